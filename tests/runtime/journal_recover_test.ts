/**
 * Recovery reads a snapshot header, then the events after it: two reads, not one transaction.
 * A snapshot that commits in between (an owner finishing one while another node, or a restarted
 * system, recovers the actor) must not look like a hole in the log.
 */
import assert from "node:assert/strict";
import { GroupCommitter } from "../../src/runtime/committer.ts";
import { Journal } from "../../src/runtime/journal.ts";

async function journalWithFourEvents() {
  const kv = await Deno.openKv(":memory:");
  const journal = new Journal(kv, new GroupCommitter(kv));
  for (let seq = 1; seq <= 4; seq++) {
    await journal.append("tally", "t", [{ seq, at: seq, event: { n: seq } }]);
  }
  return { kv, journal };
}

/** Runs `between` once, right after the first read of the snapshot header. */
function afterFirstHeaderRead(kv: Deno.Kv, between: () => Promise<unknown>) {
  const get = kv.get.bind(kv);
  let done = false;
  kv.get = (async (...a: Parameters<typeof get>) => {
    const got = await get(...a);
    if (!done && a[0].includes("sn")) {
      done = true;
      await between();
    }
    return got;
  }) as typeof kv.get;
}

Deno.test("recover: a snapshot that prunes events between its two reads is read again, not a gap", async () => {
  const { kv, journal } = await journalWithFourEvents();
  afterFirstHeaderRead(kv, () =>
    journal.writeSnapshot("tally", "t", 3, { total: 6 }, {
      clean: false,
      at: 3,
      pruneEvents: true,
    }));
  const rec = await journal.recover<{ total: number }, { n: number }>("tally", "t");
  assert.deepEqual(rec.snapshot?.state, { total: 6 });
  assert.equal(rec.snapshot?.header.seq, 3);
  assert.deepEqual(rec.events.map((e) => e.seq), [4]);
  kv.close();
});

Deno.test("recover: a snapshot replaced while its parts are read is read again", async () => {
  const { kv, journal } = await journalWithFourEvents();
  await journal.writeSnapshot("tally", "t", 2, { total: 3 }, {
    clean: false,
    at: 2,
    pruneEvents: false,
  });
  // The header says seq 2; before its parts are listed, a snapshot at 4 deletes them.
  afterFirstHeaderRead(kv, () =>
    journal.writeSnapshot("tally", "t", 4, { total: 10 }, {
      clean: true,
      at: 4,
      pruneEvents: true,
    }));
  const rec = await journal.recover<{ total: number }, { n: number }>("tally", "t");
  assert.deepEqual(rec.snapshot?.state, { total: 10 });
  assert.deepEqual(rec.events, []);
  kv.close();
});

Deno.test("recover: a hole that stays is still returned as it is (recovery refuses it)", async () => {
  const { kv, journal } = await journalWithFourEvents();
  // Events 1–3 gone with no snapshot covering them: a real hole, seen on every read.
  await kv.delete(["a", "ev", "tally", "t", 1]);
  await kv.delete(["a", "ev", "tally", "t", 2]);
  await kv.delete(["a", "ev", "tally", "t", 3]);
  let reads = 0;
  const get = kv.get.bind(kv);
  kv.get = ((...a: Parameters<typeof get>) => (reads++, get(...a))) as typeof kv.get;
  const rec = await journal.recover("tally", "t");
  assert.equal(rec.snapshot, null);
  assert.deepEqual(rec.events.map((e) => e.seq), [4]);
  assert.equal(reads, 3, "read three times before it is taken as real");
  kv.close();
});
