import assert from "node:assert/strict";
import { KvLease, type LeaseRecord } from "../../src/integrations/telegram/lease.ts";
import { ManualClock } from "../../src/runtime/clock.ts";

const KEY = ["tg", "test", "lease"];

Deno.test("KvLease: one of two racing holders wins; the other takes over once it expires", async () => {
  await using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const a = new KvLease(kv, KEY, "node-a", 30_000, clock);
  const b = new KvLease(kv, KEY, "node-b", 30_000, clock);

  const [wonA, wonB] = await Promise.all([a.acquire(), b.acquire()]);
  assert.equal(Number(wonA) + Number(wonB), 1, "exactly one holder");
  const [winner, loser] = wonA ? [a, b] : [b, a];
  assert.equal(winner.held, true);
  assert.equal(loser.held, false);

  // Renewing keeps it: the other still cannot take it before the (renewed) expiry.
  await clock.advance(20_000);
  assert.equal(await winner.acquire(), true);
  await clock.advance(20_000);
  assert.equal(await loser.acquire(), false);

  // The winner stops renewing (a crash): after expiry the other takes over.
  await clock.advance(10_001);
  assert.equal(winner.held, false, "its own view expires too");
  assert.equal(await loser.acquire(), true);
  assert.equal((await kv.get<LeaseRecord>(KEY)).value?.holder, loser.holder);
  assert.equal(await winner.acquire(), false);
});

Deno.test("KvLease: a fenced write fails once another holder took the lease", async () => {
  await using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const a = new KvLease(kv, KEY, "node-a", 1000, clock);
  const b = new KvLease(kv, KEY, "node-b", 1000, clock);
  assert.equal(await a.acquire(), true);
  assert.equal((await a.fence(kv.atomic()).set(["progress"], 1).commit()).ok, true);

  await clock.advance(1001);
  assert.equal(await b.acquire(), true);
  // `a` was paused and does not know yet: its write must not land.
  assert.equal((await a.fence(kv.atomic()).set(["progress"], 2).commit()).ok, false);
  assert.equal((await kv.get(["progress"])).value, 1);
});

Deno.test("KvLease: release lets another holder in at once; a holder's restart reclaims its own", async () => {
  await using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const a = new KvLease(kv, KEY, "node-a", 60_000, clock);
  const b = new KvLease(kv, KEY, "node-b", 60_000, clock);
  assert.equal(await a.acquire(), true);
  assert.equal(await b.acquire(), false);
  await a.release();
  assert.equal(await b.acquire(), true);

  // node-b restarts (a new object, same name) while its lease is still running: it is its own.
  const bAgain = new KvLease(kv, KEY, "node-b", 60_000, clock);
  assert.equal(await bAgain.acquire(), true);
  assert.equal(await a.acquire(), false);
});
