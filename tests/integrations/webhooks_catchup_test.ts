/**
 * The webhook catch-up: events whose in-memory notice was lost (a crash, a full intake) reach the
 * receiver from the chat's log, each once; the fast path keeps the cursor in step so the
 * catch-up has nothing to read; recent deliveries are not sent again; the catch-up never sends
 * a subscription events from before it was turned on. The log here is a fake with real feed
 * marks in KV; webhooks_flow_test covers the real session log.
 */
import assert from "node:assert/strict";
import type { SessionEvent } from "../../actors/_session_types.ts";
import { feedKey } from "../../actors/_session_writes.ts";
import type { Envelope } from "../../src/runtime/entity.ts";
import { deliveryId } from "../../src/integrations/webhooks/events.ts";
import { K } from "../../src/integrations/webhooks/store.ts";
import { Receiver } from "./_webhooks_receiver.ts";
import { type Engine, engine, message } from "./_webhooks_util.ts";

const T0 = Date.UTC(2026, 0, 1);

/** Chat logs as the session stores them: events plus the feed mark, in one atomic. */
class FakeLog {
  readonly #logs = new Map<string, Envelope<SessionEvent>[]>();
  reads = 0;

  constructor(readonly kv: Deno.Kv) {}

  async append(chatId: string, ...events: SessionEvent[]): Promise<Envelope<SessionEvent>[]> {
    const log = this.#logs.get(chatId) ?? [];
    this.#logs.set(chatId, log);
    const envs = events.map((event, i) => ({
      seq: log.length + i + 1,
      at: "at" in event ? event.at : T0,
      event,
    }));
    log.push(...envs);
    const ok = await this.kv.atomic().max(feedKey(chatId), BigInt(log.length)).commit();
    assert.ok(ok.ok);
    return envs;
  }

  readonly read = (chatId: string, after: number, limit: number) => {
    this.reads++;
    const log = this.#logs.get(chatId) ?? [];
    return Promise.resolve(log.filter((e) => e.seq > after).slice(0, limit));
  };
}

async function setUp(settings: Parameters<typeof engine>[0] = {}) {
  const kv = await Deno.openKv(":memory:");
  const log = new FakeLog(kv);
  const e = await engine(settings, { kv, readLog: log.read });
  return {
    e,
    log,
    kv,
    async [Symbol.asyncDispose]() {
      await e[Symbol.asyncDispose]();
      kv.close();
    },
  };
}

const texts = (r: Receiver, path: string) => r.at(path).map((q) => q.payload.data.text);
const cursor = async (e: Engine, chatId: string) =>
  (await e.kv.get<number>(K.cursor(chatId))).value;
const mark = async (e: Engine, chatId: string) =>
  (await e.kv.get<Deno.KvU64>(feedKey(chatId))).value?.value;
/** Two looks: the first sees a cursor behind its mark, the second finds it still there. */
const twoLooks = async (e: Engine) => {
  await e.wh.catchUp.look();
  await e.wh.catchUp.look();
};

Deno.test("events whose notices a crash cut off reach the receiver from the log, each once", async () => {
  await using r = await Receiver.start();
  await using t = await setUp();
  const { e, log } = t;
  const sub = await e.wh.subscribe({ url: `${r.url}/hook`, events: ["chat.message"] });
  // Stored (with their marks) but never handed to the intake: what a crash between commit
  // and intake leaves.
  await log.append("chat-1", message("one"), message("two"), message("three"));

  await e.wh.catchUp.look();
  assert.equal(r.at("/hook").length, 0, "one look only notes the cursor behind its mark");
  await e.wh.catchUp.look();
  await e.rec.drained(e.wh);
  assert.deepEqual(texts(r, "/hook").sort(), ["one", "three", "two"]);
  assert.deepEqual(
    r.at("/hook").map((q) => q.delivery).sort(),
    (await Promise.all([1, 2, 3].map((s) => deliveryId(sub.id, "chat-1", s)))).sort(),
    "the ids the fast path would have given them",
  );
  assert.equal(await cursor(e, "chat-1"), 3);
  assert.equal(e.wh.catchUp.caughtUp, 3);

  await e.wh.catchUp.look();
  assert.equal(await mark(e, "chat-1"), undefined, "a mark its cursor reached is dropped");
  await twoLooks(e);
  assert.equal(r.at("/hook").length, 3, "nothing is sent twice");
});

Deno.test("the fast path keeps the cursor in step: the catch-up reads no log", async () => {
  await using r = await Receiver.start();
  await using t = await setUp();
  const { e, log } = t;
  await e.wh.subscribe({ url: `${r.url}/hook`, events: ["chat.message"] });
  for (const env of await log.append("chat-1", message("a"), message("b"))) {
    e.wh.publish({ chatId: "chat-1", ...env });
  }
  // A chat event no webhook carries moves the cursor too.
  for (const env of await log.append("chat-1", { type: "read", participantId: "op-1", seq: 2 })) {
    e.wh.publish({ chatId: "chat-1", ...env });
  }
  await e.rec.drained(e.wh);
  assert.equal(await cursor(e, "chat-1"), 3);

  await twoLooks(e);
  assert.equal(log.reads, 0);
  assert.equal(await mark(e, "chat-1"), undefined);
  assert.deepEqual(texts(r, "/hook").sort(), ["a", "b"]);

  // The next event of the chat raises a new mark; the cursor (not a lost mark) says where to go on.
  for (const env of await log.append("chat-1", message("c"))) {
    e.wh.publish({ chatId: "chat-1", ...env });
  }
  await e.rec.drained(e.wh);
  await twoLooks(e);
  assert.equal(await cursor(e, "chat-1"), 4);
  assert.equal(log.reads, 0);
  assert.deepEqual(texts(r, "/hook").sort(), ["a", "b", "c"]);
});

Deno.test("a full intake leaves events to the catch-up; every one is delivered once", async () => {
  await using r = await Receiver.start();
  await using t = await setUp({ intakeCapacity: 2 });
  const { e, log } = t;
  await e.wh.subscribe({ url: `${r.url}/hook`, events: ["chat.message"] });
  const words = ["m1", "m2", "m3", "m4", "m5", "m6"];
  const envs = await log.append("chat-1", ...words.map((w) => message(w)));
  for (const env of envs) e.wh.publish({ chatId: "chat-1", ...env });
  await e.rec.drained(e.wh);
  assert.equal(r.at("/hook").length, 2, "two fit into the intake");
  assert.equal(await cursor(e, "chat-1"), 2, "the cursor stops where the intake lost events");

  await twoLooks(e);
  await e.rec.drained(e.wh);
  assert.deepEqual(texts(r, "/hook").sort(), words);
  assert.equal(r.processed.length, 6, "no event twice");
  assert.equal(await cursor(e, "chat-1"), 6);
});

Deno.test("an event taken in again after its delivery is not sent twice", async () => {
  await using r = await Receiver.start();
  await using t = await setUp();
  const { e, log, kv } = t;
  await e.wh.subscribe({ url: `${r.url}/hook`, events: ["chat.message"] });
  for (const env of await log.append("chat-1", message("x"), message("y"))) {
    e.wh.publish({ chatId: "chat-1", ...env });
  }
  await e.rec.drained(e.wh);
  assert.equal(r.at("/hook").length, 2);
  // A crash between the outbox write and the cursor write: the cursor never moved.
  await kv.delete(K.cursor("chat-1"));

  await twoLooks(e);
  await e.rec.drained(e.wh);
  assert.equal(log.reads > 0, true, "the catch-up read the log again");
  assert.equal(r.at("/hook").length, 2, "the delivered ids were remembered");
  assert.equal(await cursor(e, "chat-1"), 2);
});

Deno.test("with no subscription the cursor follows the mark without reading a log", async () => {
  await using t = await setUp();
  const { e, log } = t;
  await log.append("chat-1", message("p"), message("q"));
  await log.append("chat-2", message("r"));
  await e.wh.catchUp.look();
  assert.equal(await cursor(e, "chat-1"), 2);
  assert.equal(await cursor(e, "chat-2"), 1);
  assert.equal(await mark(e, "chat-1"), undefined);
  assert.equal(log.reads, 0);
});

Deno.test("the catch-up sends no event from before the subscription was turned on", async () => {
  await using r = await Receiver.start();
  await using t = await setUp();
  const { e, log } = t;
  const sub = await e.wh.subscribe({
    url: `${r.url}/hook`,
    events: ["chat.message"],
    enabled: false,
  });
  await log.append("chat-1", message("before", T0 - 60_000));
  await e.clock.advance(1_000);
  await e.wh.update(sub.id, { enabled: true });
  await log.append("chat-1", message("while off", T0 + 500), message("after", T0 + 2_000));

  await twoLooks(e);
  await e.rec.drained(e.wh);
  assert.deepEqual(texts(r, "/hook"), ["after"]);
  assert.equal(await cursor(e, "chat-1"), 3);
});

Deno.test("after the catch-up moved a cursor, the fast path goes on from there", async () => {
  await using r = await Receiver.start();
  await using t = await setUp();
  const { e, log } = t;
  const sub = await e.wh.subscribe({ url: `${r.url}/hook`, events: ["chat.message"] });
  const publish = async (...texts: string[]) => {
    for (const env of await log.append("chat-1", ...texts.map((x) => message(x)))) {
      e.wh.publish({ chatId: "chat-1", ...env });
    }
    await e.rec.drained(e.wh);
  };
  await publish("first");
  assert.equal(await cursor(e, "chat-1"), 1, "the fast path's cursor (and the one it remembers)");
  await e.wh.update(sub.id, { enabled: false });
  await publish("unseen 1", "unseen 2");
  await e.wh.catchUp.look();
  assert.equal(await cursor(e, "chat-1"), 3, "no subscription: the catch-up moved it");

  await e.clock.advance(1_000);
  await e.wh.update(sub.id, { enabled: true });
  await publish("next");
  assert.equal(await cursor(e, "chat-1"), 4, "not stuck behind the value it remembered");
  assert.equal(log.reads, 0);
  assert.deepEqual(texts(r, "/hook").sort(), ["first", "next"]);
});

Deno.test("more marks than one look lists: every stale chat is caught up over the pages", async () => {
  await using t = await setUp();
  const { e, log } = t;
  // Wanted by a subscription, so the catch-up reads the logs (the events carry nothing it sends).
  await e.wh.subscribe({ url: "http://127.0.0.1:9/unused", events: ["chat.closed"] });
  const chats = Array.from({ length: 1_001 }, (_, i) => `chat-${String(i).padStart(4, "0")}`);
  for (const id of chats) await log.append(id, message("lost"));
  // Looks 1–2 list the two pages and note each cursor behind; looks 3–4 find them still there.
  for (let i = 0; i < 4; i++) await e.wh.catchUp.look();
  assert.equal(e.wh.catchUp.caughtUp, 1_001);
  assert.equal(await cursor(e, chats[0]), 1);
  assert.equal(await cursor(e, chats[1_000]), 1, "the chat on the second page too");
});
