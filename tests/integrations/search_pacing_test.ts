/**
 * The search index writes in few, large KV commits and plans them in slices of the event loop:
 * every commit is an fsync of the index's WAL on the disk of the chats' own commits, and an
 * indexer that wrote as soon as anything waited cost the server about twice its CPU under load
 * (docs/BENCHMARKS.md, "The search index paced"). The indexer paces its steps by the injected
 * clock; the store packs many chats into one write when the index has its own file, within KV's
 * limits, and gives the event loop a turn every couple of ms while it plans.
 */
import assert from "node:assert/strict";
import { silentLogger } from "../../src/log.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { GATHER_MS, Indexer, STEP_EVENTS } from "../../src/integrations/search/indexer.ts";
import { SearchStore } from "../../src/integrations/search/store.ts";
import type { FeedEvent } from "../../src/integrations/feed.ts";
import { conversation, FakeLog, T0 } from "./_search_util.ts";

/** A KV whose commits (and the checks in each) are counted. */
function counting(kv: Deno.Kv) {
  const commits: number[] = [];
  const proxy = new Proxy(kv, {
    get(target, prop) {
      if (prop === "atomic") {
        return () => {
          const op = target.atomic();
          let checks = 0;
          const check = op.check.bind(op);
          const commit = op.commit.bind(op);
          op.check = (...c) => {
            checks += c.length;
            return check(...c);
          };
          op.commit = () => {
            commits.push(checks);
            return commit();
          };
          return op;
        };
      }
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { kv: proxy, commits };
}

/** Chats `from`…`to-1`, each created, queued and with one message: their feed events. */
async function chats(log: FakeLog, from: number, to: number, text = (i: number) => `order ${i}`) {
  const out: FeedEvent[] = [];
  for (let i = from; i < to; i++) {
    // As long as the server's chat ids (UUIDs): they are in every posting's key.
    const chatId = `c${i}-`.padEnd(36, "0");
    out.push(...await log.append(chatId, ...conversation({ messages: [["client", text(i)]] })));
  }
  return out;
}

/** An indexer over an index in its own KV, on a clock that moves only when told. */
function pacedNode(chatsKv: Deno.Kv, indexKv: Deno.Kv) {
  const log = new FakeLog(chatsKv);
  const clock = new ManualClock(T0);
  const store = new SearchStore(indexKv, chatsKv);
  const indexer = new Indexer({
    store,
    readLog: log.read,
    clock,
    log: silentLogger,
    pollMs: 60_000,
  });
  return { log, clock, store, indexer };
}

Deno.test("indexer: under steady traffic a step goes once per gather interval, in few commits", async () => {
  using chatsKv = await Deno.openKv(":memory:");
  using indexKv = await Deno.openKv(":memory:");
  const counted = counting(indexKv);
  const { log, clock, store, indexer } = pacedNode(chatsKv, counted.kv);

  // After a quiet spell the first event goes at once.
  const [first, ...rest] = await chats(log, 0, 1);
  indexer.push(first);
  await indexer.settled();
  assert.equal(store.counters.events, 1);
  const afterFirst = counted.commits.length;

  // Events arriving meanwhile wait for the interval: no commit however many arrive.
  for (const e of [...rest, ...await chats(log, 1, 40)]) indexer.push(e);
  await indexer.settled();
  assert.equal(counted.commits.length, afterFirst, "nothing written before the interval");
  assert.equal(indexer.backlog, 2 + 39 * 3);
  await clock.advance(GATHER_MS - 1);
  await indexer.settled();
  assert.equal(counted.commits.length, afterFirst, "nothing written before the interval");

  // Then one step takes them all: the 40 chats' index rows in one commit, their cursors in
  // another (the store would need 4 writes at 10 chats each, as in the chats' KV).
  await clock.advance(1);
  await indexer.settled();
  assert.equal(indexer.backlog, 0);
  assert.equal(store.counters.events, 40 * 3);
  assert.deepEqual(counted.commits.slice(afterFirst), [40, 40]);

  // A full step's worth goes at once, without waiting for the interval.
  const many = await chats(log, 40, 40 + Math.ceil(STEP_EVENTS / 3));
  for (const e of many) indexer.push(e);
  await indexer.settled();
  assert.ok(indexer.backlog < STEP_EVENTS, `backlog ${indexer.backlog}`);
  assert.ok(store.counters.events >= 40 * 3 + STEP_EVENTS - many.length % STEP_EVENTS);

  // flushed() writes what is gathering now; stop() leaves nothing behind.
  await indexer.flushed();
  assert.equal(indexer.backlog, 0);
  assert.equal(store.counters.events, 40 * 3 + many.length);
  for (const e of await chats(log, 5000, 5001)) indexer.push(e);
  await indexer.stop();
  assert.equal(indexer.backlog, 0);
  assert.equal(store.counters.events, 41 * 3 + many.length);
});

Deno.test("store: in the chats' KV a write holds 10 chats at most", async () => {
  using kv = await Deno.openKv(":memory:");
  const counted = counting(kv);
  const log = new FakeLog(kv);
  const store = new SearchStore(counted.kv);
  assert.equal(await store.take(await chats(log, 0, 40)), 40 * 3);
  assert.deepEqual(counted.commits, [10, 10, 10, 10]);
});

Deno.test("store: large writes stay within KV's key and size limits (long many-word messages)", async () => {
  using chatsKv = await Deno.openKv(":memory:");
  using indexKv = await Deno.openKv(":memory:");
  const log = new FakeLog(chatsKv);
  const store = new SearchStore(indexKv, chatsKv);
  // 95 distinct 60-letter Cyrillic words a message: 5 chats' steps of ~100 mutations would
  // be ~90 KB of keys in one 500-mutation write, over KV's 80 KiB.
  const letters = (n: number) => [...String(n)].map((c) => "абвгдежзик"[Number(c)]).join("");
  const word = (i: number, j: number) => `${letters(i)}ы${letters(j)}${"щ".repeat(56)}`;
  const text = (i: number) => Array.from({ length: 95 }, (_, j) => word(i, j)).join(" ");
  const events = await chats(log, 0, 30, text);
  assert.equal(await store.take(events), events.length);
  const docs = await store.docs(events.map((e) => e.chatId));
  assert.equal(docs.size, 30);
  for (const d of docs.values()) assert.ok(d.postings >= 95, `${d.postings} postings`);
});

Deno.test("store: a large step is planned in slices, giving the event loop turns", async () => {
  using chatsKv = await Deno.openKv(":memory:");
  using indexKv = await Deno.openKv(":memory:");
  const log = new FakeLog(chatsKv);
  const store = new SearchStore(indexKv, chatsKv);
  // 2,000 events of 60-word messages: planning them (words, stems) takes far longer than a slice.
  const sentence = "parcel delivery refund invoice customer address courier warehouse";
  const text = (i: number) =>
    Array.from({ length: 8 }, (_, j) => `${sentence} w${i}x${j}`).join(" ");
  const events = await chats(log, 0, Math.ceil(STEP_EVENTS / 3), text);

  // Event-loop turns during the take: the longest stretch without one.
  let ticking = true;
  let last = performance.now();
  let longest = 0;
  let turns = 0;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    turns++;
    if (ticking) setTimeout(tick, 0);
  };
  setTimeout(tick, 0);
  const start = performance.now();
  assert.equal(await store.take(events), events.length);
  const took = performance.now() - start;
  ticking = false;
  await new Promise((r) => setTimeout(r, 0));
  // Unsliced, planning every chat is one stretch, most of the take (~80% here); sliced, each
  // stretch is a couple of ms. A quarter of the whole leaves room for a loaded machine.
  assert.ok(took > 40, `the take is long enough to tell (${took.toFixed(0)} ms)`);
  assert.ok(longest < took / 4, `longest stretch ${longest.toFixed(1)} of ${took.toFixed(0)} ms`);
  assert.ok(turns > 10, `${turns} turns`);
});

Deno.test("indexer: flushed() writes what was there when asked, not what arrives meanwhile", async () => {
  using chatsKv = await Deno.openKv(":memory:");
  using indexKv = await Deno.openKv(":memory:");
  const { log, store, indexer } = pacedNode(chatsKv, indexKv);
  const later = await chats(log, 100, 110);
  // Under steady traffic, more events arrive while each step is written.
  const take = store.take.bind(store);
  store.take = async (events) => {
    const n = await take(events);
    const next = later.shift();
    if (next) indexer.push(next);
    return n;
  };
  const first = await chats(log, 0, 3);
  for (const e of first) indexer.push(e);
  await indexer.flushed();
  // Every event pushed before the call is in; the one that arrived during the last step waits
  // for the next (a search answering on flushed() does not wait for the traffic to stop).
  assert.ok(store.counters.events >= first.length);
  assert.equal((await store.docs(first.map((e) => e.chatId))).size, 3);
  assert.equal(indexer.backlog, 1);
  await indexer.stop();
});
