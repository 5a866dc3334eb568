/**
 * Group commit cuts a batch by the bytes of its keys too: Deno KV refuses an atomic whose keys
 * add up to more than 80 KiB ("Total key size too large"), which a full batch of a thousand
 * writes with long keys (a message id in the idempotency index) passed, failing every actor in
 * it. And `kvKeyBytes` counts what KV counts.
 */
import assert from "node:assert/strict";
import { GroupCommitter, KV_LIMITS, kvKeyBytes } from "../../src/runtime/committer.ts";

Deno.test("kvKeyBytes agrees with Deno KV's own limit on an atomic's keys", async () => {
  using kv = await Deno.openKv(":memory:");
  // Keys of 1 KiB-ish with strings (some with 0 bytes), numbers and booleans mixed.
  const key = (i: number, pad: number): Deno.KvKey => ["k\u0000", i, true, "x".repeat(pad)];
  const fill = (total: number) => {
    const keys: Deno.KvKey[] = [];
    let n = 0, i = 0;
    while (n < total) {
      const rest = total - n;
      const base = kvKeyBytes(key(i, 0));
      const pad = Math.min(1000, rest - base);
      const k = key(i++, Math.max(0, pad));
      keys.push(k);
      n += kvKeyBytes(k);
    }
    assert.equal(n, total);
    return keys;
  };
  const commit = (keys: Deno.KvKey[]) => {
    const op = kv.atomic();
    for (const k of keys) op.set(k, 1);
    return op.commit();
  };
  assert.equal((await commit(fill(81920))).ok, true);
  await assert.rejects(() => commit(fill(81921)), /Total key size too large/);
});

Deno.test("a thousand pending writes with long keys are committed in atomics KV accepts", async () => {
  using kv = await Deno.openKv(":memory:");
  const committer = new GroupCommitter(kv, 1);
  // One write holds the committer while a thousand more queue up behind it.
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 1000; i++) {
    const key = ["idem", "session", crypto.randomUUID(), `client-msg-${i}-${"m".repeat(120)}`];
    writes.push(committer.commit([{ op: "set", key, value: i, size: 200 }]));
  }
  const results = await Promise.allSettled(writes);
  assert.deepEqual(results.filter((r) => r.status === "rejected"), []);
  assert.ok(committer.stats.commits >= Math.ceil((1000 * 170) / KV_LIMITS.keyBytes));
  let stored = 0;
  for await (const _ of kv.list({ prefix: ["idem"] })) stored++;
  assert.equal(stored, 1000);
  // One write alone larger than an atomic's keys allow is refused, coded, before KV.
  const huge = Array.from({ length: 100 }, (_, i) => ["big", i, "k".repeat(800)] as Deno.KvKey);
  await assert.rejects(
    () => committer.commit(huge.map((key) => ({ op: "set", key, value: 1, size: 900 }))),
    /larger than one KV atomic allows/,
  );
});

Deno.test("kvKeyBytes counts UTF-8: Cyrillic, emoji and 0 bytes as KV does", async () => {
  using kv = await Deno.openKv(":memory:");
  for (const part of ["abc", "привет", "😀x", "a\u0000b", "ё\u0000😀"]) {
    const key: Deno.KvKey = [part, 1];
    const expected = 2 + new TextEncoder().encode(part).length +
      [...part].filter((ch) => ch === "\u0000").length + 9;
    assert.equal(kvKeyBytes(key), expected, part);
    // And KV agrees: exactly the limit in keys of this shape passes, a byte more fails.
    const pad = (n: number): Deno.KvKey => [part, 1, "p".repeat(n)];
    const fixed = kvKeyBytes(pad(0));
    const keys: Deno.KvKey[] = [];
    let total = 0, i = 0;
    while (81920 - total > fixed + 1000) {
      keys.push([part, i++, "p".repeat(1000)]);
      total += kvKeyBytes(keys.at(-1)!);
    }
    keys.push([part, i++, "p".repeat(81920 - total - fixed)]);
    const commit = (ks: Deno.KvKey[]) => {
      const op = kv.atomic();
      for (const k of ks) op.set(k, 1);
      return op.commit();
    };
    assert.equal((await commit(keys)).ok, true, part);
    keys.push(["z"]);
    await assert.rejects(() => commit(keys), /Total key size too large/);
  }
});
