/**
 * Hints storage on a real (in-memory) Deno KV: canned responses with their bound, the bounded
 * history with eviction, one harvest per chat, a restart rebuilding the index from KV, two nodes
 * sharing one KV, and the knowledge file reloaded when it changes (and kept when it breaks).
 */
import assert from "node:assert/strict";
import type { SessionEvent } from "../../actors/session.ts";
import { AppError } from "../../src/errors.ts";
import { HintCatalog } from "../../src/integrations/hints/catalog.ts";
import { CannedStore } from "../../src/integrations/hints/canned.ts";
import { Harvester, type ReadEvents } from "../../src/integrations/hints/harvest.ts";
import { silentLogger } from "../../src/log.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import type { Envelope } from "../../src/runtime/entity.ts";
import { ADDRESS_ANSWER, ADDRESS_QUESTION, CANNED, KNOWLEDGE } from "./_hints_data.ts";

function catalog(kv: Deno.Kv, clock = new ManualClock(), historyMax = 100, knowledge = "") {
  return new HintCatalog({
    kv,
    clock,
    log: silentLogger,
    historyMax,
    knowledgePath: knowledge || null,
  });
}

/** Chats as stored event logs, read the way the session journal is read (pages after a seq). */
function fakeChats(chats: Record<string, Array<[string, string]>>): ReadEvents {
  return (chatId, after, limit) => {
    const events: Envelope<SessionEvent>[] = (chats[chatId] ?? []).flatMap(([q, a], i) => [
      msg(2 * i + 1, "client", q),
      msg(2 * i + 2, "operator", a),
    ]);
    return Promise.resolve(events.filter((e) => e.seq > after).slice(0, limit));
  };
}

function msg(seq: number, role: "client" | "operator", text: string): Envelope<SessionEvent> {
  return {
    seq,
    at: seq,
    event: { type: "message", senderId: role, senderRole: role, text, at: 0 },
  };
}

function harvester(c: HintCatalog, read: ReadEvents): Harvester {
  return new Harvester({
    read,
    history: c.history,
    now: () => 0,
    log: silentLogger,
    onStored: () => c.refresh(),
  });
}

async function countKeys(kv: Deno.Kv, ...prefix: string[]): Promise<number> {
  let n = 0;
  for await (const _ of kv.list({ prefix: ["hints", ...prefix] })) n++;
  return n;
}

Deno.test("canned store: CRUD, not found, and the bound on how many", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new CannedStore(kv, () => 1000, 2);
  const a = await store.create(CANNED[0]);
  const b = await store.create(CANNED[1]);
  const full = await store.create(CANNED[2]).catch((e) => e);
  assert.ok(full instanceof AppError && full.code === "invalid_state", String(full));
  await store.delete(a.id);
  await store.create(CANNED[2]); // room again
  const changed = await store.update(b.id, { title: "Refunds", text: "Within 30 days.", tags: [] });
  assert.equal(changed.createdAt, b.createdAt);
  assert.deepEqual((await store.get(b.id)).title, "Refunds");
  assert.deepEqual((await store.list()).map((c) => c.title).sort(), ["Refunds", "Shipping times"]);
  for (const op of [() => store.get(a.id), () => store.delete(a.id), () => store.update(a.id, b)]) {
    const err = await op().catch((e) => e);
    assert.ok(err instanceof AppError && err.code === "not_found");
  }
});

Deno.test("catalog: canned changes reach the index on the next query", async () => {
  using kv = await Deno.openKv(":memory:");
  const c = catalog(kv);
  const item = await c.canned.create(CANNED[0]);
  assert.equal((await c.search("reset password", 5))[0]?.id, item.id);
  await c.canned.update(item.id, { title: "Password", text: "Use the link.", tags: [] });
  assert.equal((await c.search("password", 5))[0]?.text, "Use the link.");
  await c.canned.delete(item.id);
  assert.deepEqual(await c.search("password", 5), []);
});

Deno.test("history: a closed chat is harvested once, even when it closes twice", async () => {
  using kv = await Deno.openKv(":memory:");
  const c = catalog(kv);
  const h = harvester(c, fakeChats({ chat1: [[ADDRESS_QUESTION, ADDRESS_ANSWER]] }));
  assert.equal((await h.harvest("chat1")).length, 1);
  assert.deepEqual(await h.harvest("chat1"), []);
  h.add("chat1"); // a re-delivered `closed`
  await h.idle();
  assert.equal(await countKeys(kv, "hist"), 1);
  const hints = await c.search("change delivery address", 5);
  assert.deepEqual(hints.map((x) => [x.source, x.text]), [["history", ADDRESS_ANSWER]]);
});

Deno.test("history: bounded; the oldest pairs are evicted from KV and from the index", async () => {
  using kv = await Deno.openKv(":memory:");
  const c = catalog(kv, new ManualClock(), 3);
  const topics = ["parcel", "invoice", "voucher", "warranty", "password"];
  const chats: Record<string, Array<[string, string]>> = {};
  topics.forEach((t) => chats[t] = [[`question on ${t}`, `answer about ${t}`]]);
  const h = harvester(c, fakeChats(chats));
  for (const t of topics) h.add(t);
  await h.idle();
  assert.equal(await countKeys(kv, "hist"), 3);
  assert.equal(await countKeys(kv, "hist_chat"), 3);
  assert.equal(c.index.countOf("history"), 3);
  assert.deepEqual(await c.search("parcel", 5), []);
  assert.deepEqual(await c.search("invoice", 5), []);
  assert.equal((await c.search("password", 5))[0]?.text, "answer about password");
  // A restarted node loads only what is kept.
  const fresh = catalog(kv, new ManualClock(), 3);
  await fresh.refresh();
  assert.equal(fresh.index.countOf("history"), 3);
});

Deno.test("harvest queue: bounded; overflow is counted, stop waits for queued chats", async () => {
  using kv = await Deno.openKv(":memory:");
  const c = catalog(kv, new ManualClock(), 1000);
  const gate = Promise.withResolvers<void>();
  const slow: ReadEvents = async (id, after, limit) => {
    await gate.promise;
    return fakeChats({ [id]: [[`q ${id}`, `a ${id}`]] })(id, after, limit);
  };
  const h = harvester(c, slow);
  for (let i = 0; i < 300; i++) h.add(`c${i}`);
  assert.equal(h.dropped, 300 - 256 - 1); // one is being read, 256 wait
  const stopped = h.stop();
  h.add("late"); // refused after stop
  gate.resolve();
  await stopped;
  assert.equal(await countKeys(kv, "hist"), 257);
});

Deno.test("restart: a new catalog on the same KV rebuilds canned and history", async () => {
  using kv = await Deno.openKv(":memory:");
  const first = catalog(kv);
  for (const item of CANNED) await first.canned.create(item);
  await harvester(first, fakeChats({ a: [[ADDRESS_QUESTION, ADDRESS_ANSWER]] })).harvest("a");
  const second = catalog(kv);
  await second.refresh();
  assert.equal(second.index.countOf("canned"), CANNED.length);
  assert.equal(second.index.countOf("history"), 1);
  assert.equal((await second.search("how do I reset my password", 3))[0]?.title, "Password reset");
});

Deno.test("two nodes, one KV: changes made on one are served by the other", async () => {
  using kv = await Deno.openKv(":memory:");
  const nodeA = catalog(kv);
  const nodeB = catalog(kv);
  await nodeB.refresh();
  const item = await nodeA.canned.create(CANNED[3]);
  await harvester(nodeA, fakeChats({ x: [[ADDRESS_QUESTION, ADDRESS_ANSWER]] })).harvest("x");
  assert.equal((await nodeB.search("cancel subscription", 1))[0]?.id, item.id);
  assert.equal((await nodeB.search("delivery address", 1))[0]?.text, ADDRESS_ANSWER);
  await nodeA.canned.delete(item.id);
  assert.equal((await nodeB.search("cancel subscription", 1)).length, 0);
});

Deno.test("two nodes harvesting at once: every pair gets its own number", async () => {
  using kv = await Deno.openKv(":memory:");
  const chats: Record<string, Array<[string, string]>> = {};
  for (let i = 0; i < 20; i++) chats[`c${i}`] = [[`q${i}`, `a${i}`], [`again${i}`, `b${i}`]];
  const [nodeA, nodeB] = [catalog(kv), catalog(kv)];
  const [hA, hB] = [harvester(nodeA, fakeChats(chats)), harvester(nodeB, fakeChats(chats))];
  // Both nodes see every `closed` here (worst case); each drains its queue one chat at a time,
  // so the nodes race for the counter all along. Each chat must still be stored once.
  for (const id of Object.keys(chats)) {
    hA.add(id);
    hB.add(id);
  }
  await Promise.all([hA.idle(), hB.idle()]);
  const numbers: number[] = [];
  for await (const e of kv.list<{ n: number }>({ prefix: ["hints", "hist"] })) {
    numbers.push(e.value.n);
  }
  assert.deepEqual(numbers, Array.from({ length: 40 }, (_, i) => i + 1));
  assert.equal(await nodeA.history.counter(), 40);
  await nodeB.refresh();
  assert.equal(nodeB.index.countOf("history"), 40);
});

Deno.test("knowledge: reloaded when the file changes; a broken file keeps the last good one", async () => {
  using kv = await Deno.openKv(":memory:");
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/knowledge.json`;
    await Deno.writeTextFile(path, JSON.stringify(KNOWLEDGE));
    const clock = new ManualClock();
    const c = catalog(kv, clock, 10, path);
    assert.equal((await c.search("opening hours", 1))[0]?.title, "opening_hours");
    const changed = structuredClone(KNOWLEDGE);
    changed.intents[0].answers = ["Open 24/7 now."];
    await Deno.writeTextFile(path, JSON.stringify(changed));
    await Deno.utime(path, 1, 1_000_000);
    assert.equal((await c.search("opening hours", 1))[0]?.text, KNOWLEDGE.intents[0].answers[0]);
    await clock.advance(10_000); // the file is looked at again at most every 10 s
    assert.equal((await c.search("opening hours", 1))[0]?.text, "Open 24/7 now.");
    await Deno.writeTextFile(path, "{ half written");
    await Deno.utime(path, 1, 2_000_000);
    await clock.advance(10_000);
    assert.equal((await c.search("opening hours", 1))[0]?.text, "Open 24/7 now.");
    const missing = catalog(kv, clock, 10, `${dir}/none.json`);
    assert.deepEqual(await missing.search("opening hours", 1), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
