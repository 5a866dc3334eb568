import assert from "node:assert/strict";
import { Mailbox } from "../../src/runtime/mod.ts";

Deno.test("Mailbox.push() refuses when the mailbox is full and keeps nothing", () => {
  const m = new Mailbox<number>(2);
  assert.equal(m.push(1), true);
  assert.equal(m.push(2), true);
  assert.equal(m.push(3), false);
  assert.deepEqual(m.drain(10), [1, 2]);
});

Deno.test("Mailbox.drain() returns items in arrival order, at most max", () => {
  const m = new Mailbox<number>(5000);
  for (let i = 0; i < 3000; i++) m.push(i);
  const first = m.drain(2000);
  assert.equal(first[0], 0);
  assert.equal(first[1999], 1999);
  assert.equal(m.size, 1000);
  assert.deepEqual(m.drain(2), [2000, 2001]);
});

Deno.test("Mailbox.unshiftAll() puts items back in front in their order", () => {
  const m = new Mailbox<number>(10);
  [1, 2, 3, 4].forEach((i) => m.push(i));
  const taken = m.drain(3);
  m.unshiftAll(taken.slice(1));
  assert.deepEqual(m.takeAll(), [2, 3, 4]);
});

Deno.test("Mailbox.push() allows the given overflow beyond capacity", () => {
  const m = new Mailbox<number>(1);
  assert.equal(m.push(1), true);
  assert.equal(m.push(2, 1), true);
  assert.equal(m.push(3, 1), false);
});

Deno.test("Mailbox rejects a capacity that is not a positive integer", () => {
  assert.throws(() => new Mailbox(0), RangeError);
});

Deno.test("Mailbox.drain() keeps no reference to handled items once it is empty", () => {
  const m = new Mailbox<{ text: string }>(100);
  for (let i = 0; i < 50; i++) m.push({ text: `message ${i}` });
  m.drain(30);
  assert.equal(m.retained, 50, "undrained items are still held");
  m.drain(30);
  assert.equal(m.retained, 0);
  assert.ok(m.isEmpty);
});
