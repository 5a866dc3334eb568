/**
 * The WebSocket output buffers: a batch takes a pooled buffer sized for it, so a short frame sent
 * to thousands of sockets at once does not hold a 16 KiB buffer per socket.
 */
import assert from "node:assert/strict";
import {
  FrameWriter,
  POOLED_BUFFER,
  recycle,
  SMALL_BUFFER,
} from "../../src/server/edge/_ws_frames.ts";

const TEXT = 0x1;

function batch(...texts: string[]): Uint8Array {
  const w = new FrameWriter();
  for (const t of texts) w.text(TEXT, t);
  return w.take();
}

Deno.test("a short frame takes a small buffer, a longer batch a 16 KiB one, a huge one its own", () => {
  const short = batch(JSON.stringify({ type: "queue_position", payload: { position: 7 } }));
  assert.equal(short.buffer.byteLength, SMALL_BUFFER);
  const several = batch(..."x".repeat(20).split("").map(() => "y".repeat(300)));
  assert.equal(several.buffer.byteLength, POOLED_BUFFER);
  assert.equal(several.length, 20 * (300 + 4));
  const huge = batch("z".repeat(40_000));
  assert.ok(huge.buffer.byteLength >= 40_004 && huge.buffer.byteLength !== POOLED_BUFFER);
  // A batch that outgrows the small buffer keeps what it had.
  const w = new FrameWriter();
  w.text(TEXT, "a".repeat(100));
  w.text(TEXT, "b".repeat(3000));
  const grown = w.take();
  assert.equal(grown.buffer.byteLength, POOLED_BUFFER);
  assert.deepEqual([grown[0], grown[1]], [0x81, 100]);
  assert.equal(new TextDecoder().decode(grown.subarray(2, 102)), "a".repeat(100));
});

Deno.test("buffers go back to their own pool once written, and are taken again", () => {
  const first = batch("hello");
  recycle(first);
  const again = batch("again");
  assert.equal(again.buffer, first.buffer);
  const big = batch("q".repeat(5000)); // reserves 3 bytes a character: 15,004
  recycle(big);
  assert.equal(batch("r".repeat(4000)).buffer, big.buffer);
  // A short frame after a big one still takes a small buffer (no 16 KiB for a few bytes).
  assert.equal(batch("s").buffer.byteLength, SMALL_BUFFER);
});

Deno.test("10,000 sockets sent one short frame each hold about 20 MB of buffers, not 160 MB", () => {
  const held = Array.from({ length: 10_000 }, () => batch('{"type":"queue_position"}'));
  const bytes = held.reduce((n, b) => n + b.buffer.byteLength, 0);
  assert.equal(bytes, 10_000 * SMALL_BUFFER);
  for (const b of held) recycle(b);
});
