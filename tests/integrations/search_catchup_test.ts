/**
 * The search indexer follows every stored chat event crash-safely: events whose in-memory notice
 * was lost (a crash between commit and index, a full intake) are taken in from the chat's log by
 * the catch-up (the search feed marks), the fast path keeps the cursors in step so the catch-up
 * reads nothing, and two nodes indexing the same chats agree. A fake log with real marks in KV;
 * search_rest_test covers the real session log across a restart.
 */
import assert from "node:assert/strict";
import { searchFeedKey } from "../../actors/_session_writes.ts";
import { silentLogger } from "../../src/log.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { Indexer } from "../../src/integrations/search/indexer.ts";
import { SearchQuery } from "../../src/integrations/search/query.ts";
import { K, SearchStore } from "../../src/integrations/search/store.ts";
import { conversation, FakeLog, T0 } from "./_search_util.ts";

const ADMIN = { id: "adm", role: "admin" } as const;

function node(kv: Deno.Kv, log: FakeLog, capacity?: number) {
  const store = new SearchStore(kv);
  const indexer = new Indexer({
    store,
    readLog: log.read,
    clock: new ManualClock(T0),
    log: silentLogger,
    pollMs: 5_000,
    ...(capacity === undefined ? {} : { capacity }),
  });
  const query = new SearchQuery(store, log.read, 20_000);
  const found = async (q: string) =>
    (await query.search(ADMIN, { q, status: [], limit: 50 })).hits.map((h) => h.chatId).sort();
  return { store, indexer, found };
}

const mark = async (kv: Deno.Kv, chatId: string) =>
  (await kv.get<Deno.KvU64>(searchFeedKey(chatId))).value?.value;
const cursor = async (kv: Deno.Kv, chatId: string) =>
  (await kv.get<number>(K.cursor(chatId))).value;
/** Two looks: the first sees a cursor behind its mark, the second finds it still there. */
const twoLooks = async (i: Indexer) => {
  await i.catchUp.look();
  await i.catchUp.look();
};

Deno.test("catch-up: events stored while no indexer ran are found after a restart", async () => {
  using kv = await Deno.openKv(":memory:");
  const log = new FakeLog(kv);
  // A first run indexes one chat through the fast path, then crashes (never stopped).
  const first = node(kv, log);
  await first.indexer.start();
  for (
    const e of await log.append("before", ...conversation({ messages: [["client", "apple"]] }))
  ) {
    first.indexer.push(e);
  }
  await first.indexer.flushed();
  // Stored (with their marks) while no indexer ran: what a crash leaves.
  await log.append("while-down", ...conversation({ messages: [["client", "яблоки и груши"]] }));
  await log.append("before", {
    type: "message",
    senderId: "alice",
    senderRole: "client",
    text: "pear",
    at: T0,
  });

  const second = node(kv, log);
  await second.indexer.start(); // the first look notes the cursors behind their marks
  assert.deepEqual(await second.found("pear"), []);
  await second.indexer.catchUp.look();
  assert.deepEqual(await second.found("яблоко"), ["while-down"]);
  assert.deepEqual(await second.found("груша"), ["while-down"]);
  assert.deepEqual(await second.found("pears"), ["before"]);
  assert.equal(second.indexer.catchUp.caughtUp, 4);
  assert.equal(await cursor(kv, "while-down"), 3);
  // The next look finds nothing behind and drops the marks.
  await second.indexer.catchUp.look();
  assert.equal(await mark(kv, "while-down"), undefined);
  assert.equal(await mark(kv, "before"), undefined);
  await second.indexer.stop();
});

Deno.test("catch-up: the fast path keeps cursors at the marks, so the catch-up reads no log", async () => {
  using kv = await Deno.openKv(":memory:");
  const log = new FakeLog(kv);
  const n = node(kv, log);
  await n.indexer.start();
  for (let i = 0; i < 5; i++) {
    for (
      const e of await log.append(
        `c${i}`,
        ...conversation({ messages: [["client", `word${i} common`]] }),
      )
    ) {
      n.indexer.push(e);
    }
  }
  await n.indexer.flushed();
  assert.deepEqual(await n.found("common"), ["c0", "c1", "c2", "c3", "c4"]);
  for (let i = 0; i < 5; i++) assert.equal(await cursor(kv, `c${i}`), 3);
  const reads = log.reads; // (the search read the snippets' messages)
  await twoLooks(n.indexer);
  assert.equal(log.reads, reads);
  assert.equal(n.indexer.catchUp.caughtUp, 0);
  await n.indexer.stop();
});

Deno.test("catch-up: what a full intake had no room for is taken in from the log, once", async () => {
  using kv = await Deno.openKv(":memory:");
  const log = new FakeLog(kv);
  const n = node(kv, log, 2);
  await n.indexer.start();
  const events = await log.append(
    "busy",
    ...conversation({ messages: [["client", "first"], ["client", "second"], ["client", "third"]] }),
  );
  for (const e of events) n.indexer.push(e);
  await n.indexer.flushed();
  assert.ok(n.indexer.left > 0);
  assert.deepEqual(await n.found("third"), []);
  await twoLooks(n.indexer);
  assert.deepEqual(await n.found("third"), ["busy"]);
  assert.deepEqual(await n.found("first"), ["busy"]);
  assert.equal((await n.store.docs(["busy"])).get("busy")!.seq, events.length);
  assert.equal((await n.store.docs(["busy"])).get("busy")!.messages, 3);
  await n.indexer.stop();
});

Deno.test("catch-up: two nodes on one KV, each hearing some events and both catching up, agree", async () => {
  using kv = await Deno.openKv(":memory:");
  const log = new FakeLog(kv);
  const a = node(kv, log);
  const b = node(kv, log);
  await Promise.all([a.indexer.start(), b.indexer.start()]);
  const all = [];
  for (let i = 0; i < 30; i++) {
    const events = await log.append(
      `c${i}`,
      ...conversation({ messages: [["client", `заказ номер ${i}`], ["staff", "посмотрю"]] }),
    );
    all.push(...events);
    // Node a owns even chats, b odd ones; every third chat's notices are lost.
    if (i % 3 === 0) continue;
    for (const e of events) (i % 2 === 0 ? a : b).indexer.push(e);
  }
  await Promise.all([a.indexer.flushed(), b.indexer.flushed()]);
  await Promise.all([twoLooks(a.indexer), twoLooks(b.indexer)]);
  await Promise.all([a.indexer.catchUp.look(), b.indexer.catchUp.look()]);
  assert.equal((await a.found("заказы")).length, 30);
  assert.deepEqual(await a.found("посмотрим"), await b.found("посмотрим"));
  assert.equal(await a.store.chatCount(), 30);
  const docs = await a.store.docs(all.map((e) => e.chatId));
  for (const d of docs.values()) assert.equal(d.seq, 4);
  await Promise.all([a.indexer.stop(), b.indexer.stop()]);
});
