/**
 * ServerWebSocket (src/server/edge/websocket.ts) over a real loopback TCP pair: the test plays a
 * raw client that writes masked frames and reads the server's frames byte by byte. Timers run on
 * a ManualClock; a fake connection covers write coalescing, partial writes and write errors.
 */
import assert from "node:assert/strict";
import { ManualClock, settle } from "../../src/runtime/clock.ts";
import { unmask } from "../../src/server/edge/_ws_frames.ts";
import {
  acceptKey,
  checkUpgrade,
  ServerWebSocket,
  type ServerWebSocketOptions,
} from "../../src/server/edge/websocket.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const MASK = [0x37, 0xfa, 0x21, 0x3d];
const TEXT = 1, BINARY = 2, CLOSE = 8, PING = 9, PONG = 10, CONT = 0;

interface FrameOpts {
  fin?: boolean;
  mask?: boolean;
  rsv?: number;
  /** Use the 64-bit length form whatever the size. */
  long?: boolean;
  /** Length to announce instead of the payload's (for headers sent without their payload). */
  announce?: bigint;
}

/** A client frame (masked unless told otherwise). */
function frame(op: number, payload: Uint8Array | string = "", o: FrameOpts = {}): Uint8Array {
  const data = typeof payload === "string" ? enc.encode(payload) : payload;
  const n = o.announce ?? BigInt(data.length);
  const mask = o.mask ?? true;
  const ext = o.long || n >= 65536n ? 8 : n >= 126n ? 2 : 0;
  const out = new Uint8Array(2 + ext + (mask ? 4 : 0) + data.length);
  out[0] = (o.fin === false ? 0 : 0x80) | ((o.rsv ?? 0) << 4) | op;
  out[1] = (mask ? 0x80 : 0) | (ext === 8 ? 127 : ext === 2 ? 126 : Number(n));
  const view = new DataView(out.buffer);
  if (ext === 2) view.setUint16(2, Number(n));
  if (ext === 8) view.setBigUint64(2, n);
  let p = 2 + ext;
  if (mask) {
    out.set(MASK, p);
    p += 4;
    for (let i = 0; i < data.length; i++) out[p + i] = data[i] ^ MASK[i & 3];
  } else out.set(data, p);
  return out;
}

function closeBody(code: number, reason: Uint8Array | string = ""): Uint8Array {
  const r = typeof reason === "string" ? enc.encode(reason) : reason;
  return new Uint8Array([code >> 8, code & 0xff, ...r]);
}

function join(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface ServerFrame {
  fin: boolean;
  op: number;
  masked: boolean;
  /** Size of the length field: 0 (7-bit), 2 or 8 bytes. */
  ext: number;
  payload: Uint8Array;
}

/** The raw client: writes bytes, reads the server's frames. */
class Peer {
  #buf = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  async write(bytes: Uint8Array): Promise<void> {
    for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
  }

  async #fill(n: number): Promise<boolean> {
    const chunks = [this.#buf];
    let have = this.#buf.length;
    try {
      while (have < n) {
        const chunk = new Uint8Array(1 << 16);
        const got = await this.conn.read(chunk);
        if (got === null) return false;
        chunks.push(chunk.subarray(0, got));
        have += got;
      }
      return true;
    } finally {
      this.#buf = join(...chunks);
    }
  }

  async frame(): Promise<ServerFrame> {
    if (!await this.#fill(2)) throw new Error("The connection ended before a frame");
    const b = this.#buf;
    let n = b[1] & 0x7f, h = 2;
    const ext = n === 126 ? 2 : n === 127 ? 8 : 0;
    if (!await this.#fill(2 + ext)) throw new Error("The connection ended in a header");
    const view = new DataView(this.#buf.buffer);
    if (ext === 2) n = view.getUint16(2);
    if (ext === 8) n = Number(view.getBigUint64(2));
    h += ext;
    if (!await this.#fill(h + n)) throw new Error("The connection ended in a payload");
    const f = this.#buf;
    this.#buf = f.slice(h + n);
    return {
      fin: (f[0] & 0x80) !== 0,
      op: f[0] & 0x0f,
      masked: (f[1] & 0x80) !== 0,
      ext,
      payload: f.slice(h, h + n),
    };
  }

  async text(): Promise<string> {
    const f = await this.frame();
    assert.equal(f.op, TEXT);
    assert.equal(f.masked, false);
    return dec.decode(f.payload);
  }

  /** Reads a close frame: its code (null for an empty payload) and reason. */
  async close(): Promise<{ code: number | null; reason: string }> {
    const f = await this.frame();
    assert.equal(f.op, CLOSE, `expected a close frame, got opcode ${f.op}`);
    if (f.payload.length === 0) return { code: null, reason: "" };
    return { code: (f.payload[0] << 8) | f.payload[1], reason: dec.decode(f.payload.slice(2)) };
  }

  /** The server dropped TCP: nothing more arrives. */
  async eof(): Promise<void> {
    try {
      assert.equal(await this.#fill(this.#buf.length + 1), false, "expected the end of the stream");
    } catch (err) {
      if (!(err instanceof Deno.errors.ConnectionReset)) throw err;
    }
  }

  end(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** What a socket's handlers saw, and promises to wait on them. */
class Recorder {
  readonly log: string[] = [];
  readonly closes: CloseEvent[] = [];
  errors = 0;
  #messages: (string | ArrayBuffer)[] = [];
  #waiter: (() => void) | null = null;
  readonly closed: Promise<CloseEvent>;
  readonly opened: Promise<void>;

  constructor(ws: ServerWebSocket) {
    let onClosed!: (e: CloseEvent) => void;
    let onOpened!: () => void;
    this.closed = new Promise((r) => onClosed = r);
    this.opened = new Promise((r) => onOpened = r);
    ws.onopen = () => {
      this.log.push("open");
      onOpened();
    };
    ws.onmessage = (e) => {
      this.log.push("message");
      this.#messages.push(e.data);
      this.#waiter?.();
    };
    ws.onerror = () => {
      this.log.push("error");
      this.errors++;
    };
    ws.onclose = (e) => {
      this.log.push("close");
      this.closes.push(e);
      onClosed(e);
      this.#waiter?.();
    };
  }

  get received(): number {
    return this.#messages.length;
  }

  async message(): Promise<string | ArrayBuffer> {
    while (this.#messages.length === 0) {
      if (this.closes.length) throw new Error("The socket closed while a message was awaited");
      await new Promise<void>((r) => this.#waiter = r);
    }
    return this.#messages.shift()!;
  }
}

interface Rig {
  ws: ServerWebSocket;
  peer: Peer;
  rec: Recorder;
  clock: ManualClock;
}

const BASE = { maxMessageBytes: 1 << 20, idleTimeoutS: 0 };

async function rig(
  opts: Partial<ServerWebSocketOptions> = {},
  leftover: Uint8Array = new Uint8Array(0),
): Promise<Rig> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const server = await listener.accept();
  listener.close();
  const clock = new ManualClock();
  const ws = new ServerWebSocket({ ...BASE, clock, ...opts });
  const rec = new Recorder(ws);
  ws.attach(server, leftover);
  await rec.opened;
  return { ws, peer: new Peer(client), rec, clock };
}

/** Ends a test: closes the client, waits for the one close event, lets pending I/O settle. */
async function done(r: Rig): Promise<CloseEvent> {
  r.peer.end();
  const e = await r.rec.closed;
  await settle();
  assert.equal(r.rec.closes.length, 1, "onclose fires exactly once");
  assert.equal(r.ws.readyState, ServerWebSocket.CLOSED);
  assert.equal(r.ws.bufferedAmount, 0);
  return e;
}

function assertClose(e: CloseEvent, code: number, wasClean: boolean, reason?: string): void {
  assert.equal(e.code, code);
  assert.equal(e.wasClean, wasClean);
  if (reason !== undefined) assert.equal(e.reason, reason);
}

// ---- Handshake helpers -------------------------------------------------------------------------

Deno.test("acceptKey() gives the RFC 6455 example answer", async () => {
  assert.equal(await acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

Deno.test("checkUpgrade() accepts a valid request and refuses each broken rule", () => {
  const good = {
    upgrade: "WebSocket",
    connection: "keep-alive, Upgrade",
    "sec-websocket-version": "13",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  };
  const check = (h: Record<string, string | null>, method = "GET") => {
    const headers = new Headers();
    for (const [k, v] of Object.entries({ ...good, ...h })) if (v !== null) headers.set(k, v);
    return checkUpgrade(method, headers);
  };
  assert.deepEqual(check({}), { ok: true, key: "dGhlIHNhbXBsZSBub25jZQ==" });
  const post = check({}, "POST");
  assert.equal(!post.ok && post.status, 405);
  const broken: Record<string, string | null>[] = [
    { upgrade: null },
    { upgrade: "h2c" },
    { connection: null },
    { connection: "keep-alive" },
    { "sec-websocket-key": null },
    { "sec-websocket-key": "c2hvcnQ=" },
    { "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ" },
    { "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZSEh" },
  ];
  for (const h of broken) {
    const r = check(h);
    assert.equal(r.ok, false, JSON.stringify(h));
    assert.equal(!r.ok && r.status, 400, JSON.stringify(h));
  }
  for (const v of [null, "8", "13, 8"]) {
    const r = check({ "sec-websocket-version": v });
    assert.ok(!r.ok);
    assert.equal(r.status, 426);
    assert.deepEqual(r.headers, { "sec-websocket-version": "13" });
  }
});

Deno.test("unmask() matches the byte-wise XOR at every alignment and length", () => {
  for (let off = 4; off < 12; off++) {
    for (const len of [0, 1, 3, 63, 64, 65, 66, 67, 200, 1001]) {
      const b = Uint8Array.from({ length: off + len + 3 }, (_, i) => (i * 31 + 7) & 0xff);
      const want = b.slice();
      for (let i = 0; i < len; i++) want[off + i] ^= b[off - 4 + (i & 3)];
      unmask(b, off, len, off - 4);
      assert.deepEqual(b, want, `offset ${off}, length ${len}`);
    }
  }
});

// ---- Messages ----------------------------------------------------------------------------------

Deno.test("echoes text: onopen first, server frames unmasked, one frame per message", async () => {
  const r = await rig();
  r.ws.onmessage = (e) => r.ws.send(e.data as string);
  assert.equal(r.ws.readyState, ServerWebSocket.OPEN);
  assert.equal(r.ws.protocol, "");
  assert.equal(r.ws.extensions, "");
  for (const s of ["hello", "", "héllo ✓ 😀", "\uFEFFbom kept"]) {
    await r.peer.write(frame(TEXT, s));
    const f = await r.peer.frame();
    assert.deepEqual([f.fin, f.op, f.masked], [true, TEXT, false]);
    assert.deepEqual(f.payload, enc.encode(s));
  }
  assertClose(await done(r), 1006, false);
  assert.equal(r.rec.errors, 1);
});

Deno.test("frames in the upgrade's leftover bytes are delivered after onopen", async () => {
  const r = await rig({}, join(frame(TEXT, "early"), frame(TEXT, "bird")));
  assert.equal(await r.rec.message(), "early");
  assert.equal(await r.rec.message(), "bird");
  assert.deepEqual(r.rec.log.slice(0, 3), ["open", "message", "message"]);
  await done(r);
});

Deno.test("many frames in one write arrive in order", async () => {
  const r = await rig();
  const texts = Array.from({ length: 300 }, (_, i) => "m" + i + "x".repeat(i * 7));
  await r.peer.write(join(...texts.map((t) => frame(TEXT, t))));
  for (const t of texts) assert.equal(await r.rec.message(), t);
  await done(r);
});

Deno.test("a frame written one byte at a time is reassembled", async () => {
  const r = await rig();
  const text = "split ".repeat(22); // 132 bytes: a 16-bit length
  const bytes = join(frame(TEXT, text), frame(TEXT, "next"));
  for (const b of bytes) {
    await r.peer.write(new Uint8Array([b]));
    await settle(1); // Gives the server a read per byte; correctness does not depend on it.
  }
  assert.equal(await r.rec.message(), text);
  assert.equal(await r.rec.message(), "next");
  await done(r);
});

Deno.test("7-, 16- and 64-bit payload lengths both ways", async () => {
  const r = await rig({ maxMessageBytes: 300_000 });
  r.ws.onmessage = (e) => r.ws.send(e.data as string);
  for (const [n, ext] of [[125, 0], [126, 2], [65535, 2], [65536, 8], [300_000, 8]]) {
    const text = "abcdefghij".repeat(n / 10 + 1).slice(0, n);
    await r.peer.write(frame(TEXT, text));
    const f = await r.peer.frame();
    assert.equal(f.ext, ext, `length form for ${n}`);
    assert.equal(dec.decode(f.payload), text);
  }
  // A short payload in the 64-bit form (not minimal, still accepted).
  await r.peer.write(frame(TEXT, "tiny", { long: true }));
  assert.equal(await r.peer.text(), "tiny");
  await done(r);
});

Deno.test("a fragmented message with a ping in between: pong first, then the message", async () => {
  const r = await rig();
  await r.peer.write(join(
    frame(TEXT, "frag", { fin: false }),
    frame(PING, "are you there"),
    frame(CONT, "men", { fin: false }),
    frame(PONG, "unsolicited"),
    frame(CONT, "ted κ"),
  ));
  const pong = await r.peer.frame();
  assert.deepEqual([pong.op, dec.decode(pong.payload)], [PONG, "are you there"]);
  assert.equal(await r.rec.message(), "fragmented κ");
  assert.equal(r.rec.received, 0);
  await done(r);
});

Deno.test("binary: 1003 at the header by default, ArrayBuffer with allowBinary", async () => {
  const r = await rig();
  // Only the header of a 1000-byte binary frame: refused before any payload is there.
  await r.peer.write(frame(BINARY, "", { announce: 1000n }));
  assert.deepEqual(await r.peer.close(), { code: 1003, reason: "binary_not_accepted" });
  assert.equal(r.rec.received, 0);
  r.peer.end();
  assertClose(await r.rec.closed, 1003, false);
  await done(r);

  const b = await rig({ allowBinary: true });
  b.ws.onmessage = (e) => b.ws.send(e.data as ArrayBuffer);
  const data = Uint8Array.from({ length: 70_000 }, (_, i) => i * 7);
  await b.peer.write(frame(BINARY, data));
  await b.peer.write(join(frame(BINARY, data.subarray(0, 10), { fin: false }), frame(CONT, "!")));
  const echoed = await b.peer.frame();
  assert.deepEqual([echoed.op, echoed.payload], [BINARY, data]);
  const joined = await b.peer.frame();
  assert.deepEqual(joined.payload, join(data.subarray(0, 10), enc.encode("!")));
  b.ws.onmessage = null;
  b.ws.send(new Uint8Array([1, 2, 3]).subarray(1));
  b.ws.send(new Uint8Array([4, 5]).buffer);
  assert.deepEqual((await b.peer.frame()).payload, new Uint8Array([2, 3]));
  assert.deepEqual((await b.peer.frame()).payload, new Uint8Array([4, 5]));
  await done(b);
});

Deno.test("binary messages arrive as ArrayBuffers of exactly their bytes", async () => {
  const r = await rig({ allowBinary: true });
  await r.peer.write(join(frame(BINARY, new Uint8Array([9, 8, 7])), frame(TEXT, "after")));
  const data = await r.rec.message();
  assert.ok(data instanceof ArrayBuffer);
  assert.deepEqual(new Uint8Array(data), new Uint8Array([9, 8, 7]));
  assert.equal(await r.rec.message(), "after");
  await done(r);
});

// ---- Protocol violations -----------------------------------------------------------------------

/** Sends `bytes`, expects a close frame with `code`, answers it and expects TCP to end. */
async function violation(
  name: string,
  bytes: Uint8Array,
  code: number,
  opts: Partial<ServerWebSocketOptions> = {},
  answer = true,
): Promise<void> {
  const r = await rig(opts);
  await r.peer.write(bytes);
  const got = await r.peer.close();
  assert.equal(got.code, code, name);
  assert.equal(r.ws.readyState, ServerWebSocket.CLOSING, name);
  if (answer) await r.peer.write(frame(CLOSE, closeBody(code)));
  else await r.clock.advance(2000); // The server cannot find our answer: it waits it out.
  await r.peer.eof();
  const e = await done(r);
  assertClose(e, code, false);
  assert.equal(r.rec.errors, 1, name);
  assert.deepEqual(r.rec.log, ["open", "error", "close"], name);
}

Deno.test("1002 for every framing rule, with the payload of the bad frame skipped", async () => {
  const cases: [string, Uint8Array, Partial<ServerWebSocketOptions>?][] = [
    ["unmasked frame", frame(TEXT, "plain", { mask: false })],
    ["rsv1", frame(TEXT, "x", { rsv: 4 })],
    ["rsv2", frame(TEXT, "x", { rsv: 2 })],
    ["rsv3", frame(TEXT, "x", { rsv: 1 })],
    ...[3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map((op) =>
      [`opcode ${op}`, frame(op, "data")] as [string, Uint8Array]
    ),
    ["ping without FIN", frame(PING, "p", { fin: false })],
    ["pong without FIN", frame(PONG, "p", { fin: false })],
    ["ping over 125 bytes", frame(PING, "p".repeat(126))],
    ["continuation without a message", frame(CONT, "lost")],
    [
      "text inside a fragmented message",
      join(frame(TEXT, "a", { fin: false }), frame(TEXT, "b")),
    ],
    [
      "binary inside a fragmented message",
      join(frame(TEXT, "a", { fin: false }), frame(BINARY, "b")),
      { allowBinary: true },
    ],
  ];
  for (const [name, bytes, opts] of cases) await violation(name, bytes, 1002, opts);
});

Deno.test("1002 for a close frame over 125 bytes or without FIN", async () => {
  const r = await rig();
  await r.peer.write(frame(CLOSE, closeBody(1000, "r".repeat(124))));
  assert.equal((await r.peer.close()).code, 1002);
  await r.peer.eof();
  assertClose(await done(r), 1002, false);

  const s = await rig();
  await s.peer.write(frame(CLOSE, closeBody(1000), { fin: false }));
  assert.equal((await s.peer.close()).code, 1002);
  await s.peer.eof();
  assertClose(await done(s), 1002, false);
});

Deno.test("1002 for a 64-bit length with the top bit set (then waits the timeout)", async () => {
  await violation("top bit", frame(TEXT, "", { announce: 1n << 63n }), 1002, {}, false);
});

Deno.test("1009 as soon as a header announces too much, no payload sent", async () => {
  for (const announce of [1025n, 1n << 40n]) {
    const r = await rig({ maxMessageBytes: 1024 });
    await r.peer.write(frame(TEXT, "", { announce }));
    // Nothing but the header was written: the close can only come from the header.
    assert.deepEqual(await r.peer.close(), { code: 1009, reason: "message_too_big" });
    r.peer.end();
    assertClose(await r.rec.closed, 1009, false);
    await done(r);
  }
  // The sum of fragments counts; a message of exactly the limit passes.
  const f = await rig({ maxMessageBytes: 1024 });
  await f.peer.write(frame(TEXT, "a".repeat(1024)));
  assert.equal((await f.rec.message() as string).length, 1024);
  await f.peer.write(frame(TEXT, "a".repeat(600), { fin: false }));
  await f.peer.write(frame(CONT, "", { announce: 500n }));
  assert.equal((await f.peer.close()).code, 1009);
  assert.equal(f.rec.received, 0);
  await done(f);
});

Deno.test("1007 for invalid UTF-8 in one frame and across fragments", async () => {
  await violation("one frame", frame(TEXT, new Uint8Array([0x61, 0xff, 0x62])), 1007);
  await violation(
    "split",
    join(frame(TEXT, new Uint8Array([0xce]), { fin: false }), frame(CONT, "A")),
    1007,
  );
  // A character split between fragments is fine.
  const r = await rig();
  await r.peer.write(
    join(frame(TEXT, new Uint8Array([0xce]), { fin: false }), frame(CONT, new Uint8Array([0xba]))),
  );
  assert.equal(await r.rec.message(), "κ");
  await done(r);
});

// ---- Closing -----------------------------------------------------------------------------------

/** The peer closes with `body`; returns the server's answer and close event. */
async function peerCloses(body: Uint8Array) {
  const r = await rig();
  await r.peer.write(join(frame(CLOSE, body), frame(TEXT, "after close is ignored")));
  const answer = await r.peer.close();
  await r.peer.eof();
  const e = await done(r);
  assert.equal(r.rec.received, 0);
  return { answer, e, errors: r.rec.errors };
}

Deno.test("peer closes: answered with its code (no reason), then TCP is dropped", async () => {
  const bye = await peerCloses(closeBody(1000, "bye"));
  assert.deepEqual(bye.answer, { code: 1000, reason: "" });
  assertClose(bye.e, 1000, true, "bye");
  assert.equal(bye.errors, 0);

  const none = await peerCloses(new Uint8Array(0));
  assert.deepEqual(none.answer, { code: null, reason: "" });
  assertClose(none.e, 1005, true, "");

  for (const code of [1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999]) {
    const c = await peerCloses(closeBody(code, "ok ✓"));
    assert.equal(c.answer.code, code);
    assertClose(c.e, code, true, "ok ✓");
  }
});

Deno.test("peer closes badly: 1002 for 1 byte or a bad code, 1007 for the reason", async () => {
  const short = await peerCloses(new Uint8Array([3]));
  assert.deepEqual(short.answer, { code: 1002, reason: "invalid_close_frame" });
  assertClose(short.e, 1002, false);
  assert.equal(short.errors, 1);
  for (const code of [0, 999, 1004, 1005, 1006, 1012, 1015, 1016, 2000, 2999, 5000, 65535]) {
    const c = await peerCloses(closeBody(code));
    assert.deepEqual(c.answer, { code: 1002, reason: "invalid_close_code" }, `code ${code}`);
    assertClose(c.e, 1002, false);
  }
  const utf = await peerCloses(closeBody(1000, new Uint8Array([0xc0, 0xaf])));
  assert.equal(utf.answer.code, 1007);
  assertClose(utf.e, 1007, false);
});

Deno.test("we close: data is ignored while closing, the peer's close ends it cleanly", async () => {
  const r = await rig();
  r.ws.close(4000, "done");
  assert.equal(r.ws.readyState, ServerWebSocket.CLOSING);
  r.ws.send("dropped"); // Ignored after close.
  r.ws.close(4001, "again"); // Ignored: already closing.
  assert.deepEqual(await r.peer.close(), { code: 4000, reason: "done" });
  await r.peer.write(join(frame(TEXT, "late"), frame(PING, "late"), frame(CLOSE, closeBody(4000))));
  await r.peer.eof();
  assertClose(await done(r), 4000, true, "done");
  assert.equal(r.rec.received, 0);
  assert.equal(r.rec.errors, 0);
});

Deno.test("we close and the peer answers with a broken close: not clean, our code", async () => {
  for (const answer of [new Uint8Array([3]), closeBody(1005), closeBody(1000, "r".repeat(124))]) {
    const r = await rig();
    r.ws.close(3001, "ours");
    await r.peer.close();
    await r.peer.write(frame(CLOSE, answer));
    await r.peer.eof();
    assertClose(await done(r), 3001, false, "ours");
  }
});

Deno.test("close() without a code sends an empty close; a reason alone means 1000", async () => {
  const r = await rig();
  r.ws.close();
  assert.deepEqual(await r.peer.close(), { code: null, reason: "" });
  await r.peer.write(frame(CLOSE));
  await r.peer.eof();
  assertClose(await done(r), 1005, true);

  const s = await rig();
  s.ws.close(undefined, "why");
  assert.deepEqual(await s.peer.close(), { code: 1000, reason: "why" });
  await s.peer.write(frame(CLOSE, closeBody(1000)));
  assertClose(await done(s), 1000, true, "why");
});

Deno.test("close() refuses codes and reasons that may not be sent", async () => {
  const r = await rig();
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 2000, 2999, 5000, 1000.5, NaN]) {
    assert.throws(() => r.ws.close(code), { name: "InvalidAccessError" }, `code ${code}`);
  }
  assert.throws(() => r.ws.close(1000, "é".repeat(62)), { name: "SyntaxError" });
  assert.equal(r.ws.readyState, ServerWebSocket.OPEN);
  r.ws.close(1008, "x".repeat(123));
  assert.deepEqual(await r.peer.close(), { code: 1008, reason: "x".repeat(123) });
  await r.peer.write(frame(CLOSE, closeBody(1008)));
  assertClose(await done(r), 1008, true);
});

Deno.test("close timeout: a peer that never answers is dropped after closeTimeoutMs", async () => {
  const r = await rig({ closeTimeoutMs: 5000 });
  r.ws.close(1000, "bye");
  assert.deepEqual(await r.peer.close(), { code: 1000, reason: "bye" });
  await r.clock.advance(4999);
  assert.equal(r.rec.closes.length, 0);
  assert.equal(r.ws.readyState, ServerWebSocket.CLOSING);
  await r.clock.advance(1);
  assertClose(await r.rec.closed, 1000, false, "bye");
  await r.peer.eof();
  assert.equal(r.rec.errors, 0);
  assert.equal(r.clock.pending, 0);
  await done(r);
});

Deno.test("a peer that hangs up while open: onerror then onclose 1006, once", async () => {
  const r = await rig();
  r.ws.close(1000); // Closing started: the hang-up keeps our code.
  r.peer.end();
  assertClose(await r.rec.closed, 1000, false);
  await done(r);

  const s = await rig();
  s.peer.end();
  assertClose(await s.rec.closed, 1006, false, "");
  await done(s);
  assert.deepEqual(s.rec.log, ["open", "error", "close"]);
  s.ws.close(1000); // No effect once closed.
  s.ws.send("nothing");
  await settle();
  assert.equal(s.rec.closes.length, 1);
});

Deno.test("abort() or close() before attach: error, close 1006; attach drops TCP", async () => {
  for (const end of ["abort", "close"] as const) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const server = await listener.accept();
    listener.close();
    const ws = new ServerWebSocket({ ...BASE, clock: new ManualClock() });
    const rec = new Recorder(ws);
    assert.equal(ws.readyState, ServerWebSocket.CONNECTING);
    ws.send("ignored");
    if (end === "abort") ws.abort();
    else ws.close(1000);
    assert.equal(ws.readyState, ServerWebSocket.CLOSED);
    assertClose(await rec.closed, 1006, false);
    assert.deepEqual(rec.log, ["error", "close"]);
    ws.attach(server, new Uint8Array(0));
    const peer = new Peer(client);
    await peer.eof();
    peer.end();
    ws.abort();
    await settle();
    assert.equal(rec.closes.length, 1);
  }
});

Deno.test("attach() twice throws", async () => {
  const r = await rig();
  assert.throws(() => r.ws.attach(r.peer.conn, new Uint8Array(0)), /already attached/);
  await done(r);
});

Deno.test("handlers that throw are reported and do not break the socket", async () => {
  const errors: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => errors.push(args);
  try {
    const r = await rig();
    const seen: string[] = [];
    r.ws.onmessage = (e) => {
      seen.push(e.data as string);
      throw new Error("handler bug");
    };
    r.ws.onclose = () => {
      throw new Error("close handler bug");
    };
    await r.peer.write(join(frame(TEXT, "one"), frame(TEXT, "two"), frame(PING, "p")));
    assert.equal((await r.peer.frame()).op, PONG);
    assert.deepEqual(seen, ["one", "two"]);
    r.ws.close(1000);
    await r.peer.close();
    await r.peer.write(frame(CLOSE, closeBody(1000)));
    await r.peer.eof();
    r.peer.end();
    await settle();
    assert.equal(r.ws.readyState, ServerWebSocket.CLOSED);
    assert.equal(errors.length, 3);
    assert.match(String(errors[2][0]), /close handler threw/);
  } finally {
    console.error = original;
  }
});

// ---- Idle reaping ------------------------------------------------------------------------------

Deno.test("idle: a silent peer gets a ping, then 1001 and the TCP connection dropped", async () => {
  const r = await rig({ idleTimeoutS: 10 });
  await r.clock.advance(9_999);
  await r.clock.advance(1);
  const ping = await r.peer.frame();
  assert.deepEqual([ping.op, ping.payload.length], [PING, 0]);
  await r.clock.advance(9_999);
  assert.equal(r.ws.readyState, ServerWebSocket.OPEN);
  await r.clock.advance(1);
  assert.deepEqual(await r.peer.close(), { code: 1001, reason: "idle_timeout" });
  await r.peer.eof();
  assertClose(await r.rec.closed, 1001, false, "idle_timeout");
  assert.equal(r.rec.errors, 1);
  assert.equal(r.clock.pending, 0);
  await done(r);
});

Deno.test("idle: a peer that answers the ping stays, on one timer", async () => {
  const r = await rig({ idleTimeoutS: 10 });
  for (let round = 0; round < 3; round++) {
    await r.clock.advance(10_000);
    assert.equal((await r.peer.frame()).op, PING);
    await r.peer.write(join(frame(PONG), frame(TEXT, "alive " + round)));
    assert.equal(await r.rec.message(), "alive " + round);
  }
  await r.clock.advance(9_000);
  assert.equal(r.ws.readyState, ServerWebSocket.OPEN);
  assert.equal(r.clock.pending, 1);
  await done(r);
});

Deno.test("idle: traffic postpones the ping; frames do not add timers", async () => {
  const r = await rig({ idleTimeoutS: 10 });
  await r.clock.advance(6_000);
  await r.peer.write(join(...Array.from({ length: 50 }, () => frame(TEXT, "busy"))));
  for (let i = 0; i < 50; i++) await r.rec.message();
  assert.equal(r.clock.pending, 1);
  await r.clock.advance(6_000); // 12 s from the start, 6 s after the traffic: no ping yet.
  r.ws.send("marker");
  assert.equal(await r.peer.text(), "marker");
  await r.clock.advance(4_000); // 10 s after the traffic.
  assert.equal((await r.peer.frame()).op, PING);
  await done(r);
});

// ---- Writes ------------------------------------------------------------------------------------

Deno.test("bufferedAmount grows against a peer that does not read, and drains to 0", async () => {
  const r = await rig();
  // Loopback kernel buffers take a few MiB from a peer that does not read; 16 MiB is well over.
  const size = 16 << 20;
  const big = "z".repeat(size);
  r.ws.send(big);
  assert.equal(r.ws.bufferedAmount, size + 10);
  await settle();
  const first = r.ws.bufferedAmount;
  assert.ok(first > 0, "the kernel cannot take 16 MiB for a peer that does not read");
  r.ws.send(big);
  assert.equal(r.ws.bufferedAmount, first + size + 10);
  await settle();
  assert.ok(r.ws.bufferedAmount > size);
  for (let i = 0; i < 2; i++) assert.equal((await r.peer.frame()).payload.length, size);
  r.ws.send("tail");
  assert.equal(await r.peer.text(), "tail");
  for (let i = 0; i < 100 && r.ws.bufferedAmount > 0; i++) await settle(1);
  assert.equal(r.ws.bufferedAmount, 0);
  await done(r);
});

/** A connection whose writes the test completes by hand. */
class FakeConn {
  readonly writes: { bytes: Uint8Array; done: (n: number | Error) => void }[] = [];
  closed = false;
  #wake: (() => void) | null = null;
  #endRead: ((n: null) => void) | null = null;

  read(_into: Uint8Array): Promise<number | null> {
    return new Promise((r) => this.#endRead = r);
  }
  write(bytes: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      this.writes.push({
        bytes: bytes.slice(),
        done: (n) => n instanceof Error ? reject(n) : resolve(n),
      });
      this.#wake?.();
    });
  }
  close(): void {
    this.closed = true;
    this.#endRead?.(null);
  }
  async nextWrite(): Promise<{ bytes: Uint8Array; done: (n: number | Error) => void }> {
    while (this.writes.length === 0) await new Promise<void>((r) => this.#wake = r);
    return this.writes.shift()!;
  }
}

async function fakeRig(): Promise<{ ws: ServerWebSocket; conn: FakeConn; rec: Recorder }> {
  const conn = new FakeConn();
  const ws = new ServerWebSocket({ ...BASE, clock: new ManualClock() });
  const rec = new Recorder(ws);
  ws.attach(conn as unknown as Deno.Conn, new Uint8Array(0));
  await rec.opened;
  return { ws, conn, rec };
}

Deno.test("frames sent in one tick leave in one write; partial writes resume", async () => {
  const { ws, conn, rec } = await fakeRig();
  ws.send("a");
  ws.send(new Uint8Array([1, 2]));
  ws.send("ccc");
  assert.equal(ws.bufferedAmount, 3 + 4 + 5);
  const w1 = await conn.nextWrite();
  assert.deepEqual(w1.bytes, new Uint8Array([0x81, 1, 97, 0x82, 2, 1, 2, 0x81, 3, 99, 99, 99]));
  assert.equal(conn.writes.length, 0);
  ws.send("d"); // Queued while the write is in flight: the next batch.
  w1.done(5);
  assert.equal(ws.bufferedAmount, 12 + 3);
  const w2 = await conn.nextWrite();
  assert.equal(ws.bufferedAmount, 12 - 5 + 3);
  assert.deepEqual(w2.bytes, w1.bytes.subarray(5));
  w2.done(w2.bytes.length);
  const w3 = await conn.nextWrite();
  assert.deepEqual(w3.bytes, new Uint8Array([0x81, 1, 100]));
  w3.done(3);
  await settle();
  assert.equal(ws.bufferedAmount, 0);
  ws.close(1000);
  (await conn.nextWrite()).done(new Deno.errors.BrokenPipe("Broken pipe"));
  assertClose(await rec.closed, 1000, false);
  assert.ok(conn.closed);
});

Deno.test("a write error while open: onerror, onclose 1006, once", async () => {
  const { ws, conn, rec } = await fakeRig();
  ws.send("x");
  (await conn.nextWrite()).done(new Deno.errors.ConnectionReset("Connection reset"));
  assertClose(await rec.closed, 1006, false);
  assert.deepEqual(rec.log, ["open", "error", "close"]);
  assert.ok(conn.closed);
  assert.equal(ws.bufferedAmount, 0);
  await settle();
  assert.equal(rec.closes.length, 1);
});
