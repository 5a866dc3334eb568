/**
 * The Telegram channel end to end: a real server polls a local fake Bot API (never the real one).
 */
import assert from "node:assert/strict";
import { tgKeys } from "../../src/integrations/telegram/_kv.ts";
import { TEXTS } from "../../src/integrations/telegram/_texts.ts";
import { telegramCatchUpOf } from "../../src/integrations/telegram/mod.ts";
import { type Frame, startTestServer, type TestServer } from "../integration/_harness.ts";
import { allEvents, Sockets } from "../integration/_util.ts";
import { FakeTelegram, textUpdate } from "./_fake_telegram.ts";
import { untilKv } from "./_telegram_util.ts";

const KEYS = tgKeys("test");
const ADA = { id: 42, first_name: "Ada", username: "ada" };

function telegramServer(fake: FakeTelegram, kvPath?: string): Promise<TestServer> {
  const env = {
    TELEGRAM_BOT_TOKEN: "test",
    TELEGRAM_API_URL: fake.url,
    TELEGRAM_POLL_TIMEOUT_S: "1",
  };
  return startTestServer(env, kvPath ? { kvPath } : {});
}

const clientMessages = (events: Frame[]) =>
  events.filter((f) => f.type === "message" && f.payload.sender_role === "client")
    .map((f) => f.payload.message);

Deno.test("Telegram: the first message opens a queued chat; the operator's reply goes back", async () => {
  await using fake = FakeTelegram.start();
  await using server = await telegramServer(fake);
  await using sockets = new Sockets();
  const opToken = await server.staffToken("op-1");
  const op = await sockets.connect(server.wsUrl(opToken));

  fake.push(textUpdate(100, "Hello from Telegram", ADA));
  const available = await op.next((f) => f.type === "new_chat_available");
  const chatId = String(available.payload.chat_id);
  assert.equal(available.payload.client_id, "tg-42");
  await fake.waitFor((c) => c.body.chat_id === "42" && c.body.text === TEXTS.queued);

  assert.equal((await op.request("accept_chat", { chat_id: chatId })).type, "ack");
  await fake.waitFor((c) => c.body.text === TEXTS.assigned);
  const ack = await op.request("message", { chat_id: chatId, text: "Hi Ada, how can I help?" });
  assert.equal(ack.type, "ack");
  const sent = await fake.waitFor((c) => c.body.text === "Hi Ada, how can I help?");
  assert.equal(sent.body.chat_id, "42");
  await fake.polled(101); // the offset moved past the stored update

  fake.push(textUpdate(101, "My order is late", ADA));
  await op.next((f) => f.type === "message" && f.payload.message === "My order is late");
  const events = await allEvents(server, chatId, opToken);
  const created = events.find((f) => f.type === "chat_created")!;
  assert.deepEqual(created.payload.channel, { kind: "telegram", ref: "42", name: "Ada @ada" });
  assert.deepEqual(clientMessages(events), ["Hello from Telegram", "My order is late"]);
  assert.ok(!fake.sentTo(42).includes("Hello from Telegram"), "the user's own text is not echoed");

  // Closing tells the user; their next message opens a new chat, queued again.
  assert.equal((await op.request("close_chat", { chat_id: chatId })).type, "ack");
  await fake.waitFor((c) => c.body.text === TEXTS.closed);
  fake.push(textUpdate(102, "One more thing", ADA));
  const again = await op.next((f) =>
    f.type === "new_chat_available" && f.payload.chat_id !== chatId
  );
  const events2 = await allEvents(server, String(again.payload.chat_id), opToken);
  assert.deepEqual(clientMessages(events2), ["One more thing"]);
});

Deno.test("Telegram: a restart goes on from the stored offset; a redelivered update is stored once", async () => {
  await using fake = FakeTelegram.start();
  const dir = await Deno.makeTempDir({ prefix: "tg-restart-" });
  const kvPath = `${dir}/chat.kv`;
  try {
    let chatId = "";
    {
      await using server = await telegramServer(fake, kvPath);
      fake.push(textUpdate(200, "before the restart", ADA));
      await fake.polled(201);
      chatId = (await server.svc.peek("tg-42-200")).chatId;
    }
    {
      // A clean restart asks for the next update only.
      const from = fake.calls.length;
      await using _server = await telegramServer(fake, kvPath);
      const first = await fake.waitFor((c) => c.method === "getUpdates", { from });
      assert.equal(first.body.offset, 201);
      fake.push(textUpdate(201, "after the restart", ADA));
      await fake.polled(202, from);
    }
    // A crash after the message was stored but before the offset was saved: the offset is still
    // 201 and the processed-update record is gone too, so only the chat's own dedup is left.
    {
      await using kv = await Deno.openKv(kvPath);
      assert.equal((await kv.get(KEYS.offset)).value, 202);
      await kv.atomic().set(KEYS.offset, 201).delete(KEYS.seen(201)).commit();
    }
    fake.push(textUpdate(201, "after the restart", ADA)); // Telegram sends it again
    const from = fake.calls.length;
    await using server = await telegramServer(fake, kvPath);
    await fake.polled(201, from);
    await fake.polled(202, from);
    const opToken = await server.staffToken("admin-1", "admin");
    const events = await allEvents(server, chatId, opToken);
    assert.deepEqual(clientMessages(events), ["before the restart", "after the restart"]);
    const ids = events.filter((f) => f.type === "message").map((f) => f.payload.client_msg_id);
    assert.deepEqual(ids, ["tg-200", "tg-201"]);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("Telegram: an update delivered twice is stored once", async () => {
  await using fake = FakeTelegram.start();
  await using server = await telegramServer(fake);
  const update = textUpdate(300, "twice", ADA);
  fake.push(update, update);
  await fake.polled(301);
  // At-least-once: Telegram repeats the update after it was confirmed.
  fake.script("getUpdates", { status: 200, body: { ok: true, result: [update] } });
  fake.push(textUpdate(301, "then this", ADA));
  await fake.polled(302);
  const admin = await server.staffToken("admin-1", "admin");
  const events = await allEvents(server, "tg-42-300", admin);
  assert.deepEqual(clientMessages(events), ["twice", "then this"]);
});

Deno.test("Telegram: off without a token: no Bot API call and no webhook route", async () => {
  await using fake = FakeTelegram.start();
  await using server = await startTestServer({ TELEGRAM_API_URL: fake.url });
  await using sockets = new Sockets();
  const chat = await server.createChat("web-1");
  const client = await sockets.connect(chat.ws_url);
  assert.equal((await client.request("message", { text: "hello" })).type, "ack");
  const res = await fetch(`${server.url}/api/v1/chat/telegram/webhook`, {
    method: "POST",
    body: JSON.stringify(textUpdate(1, "x")),
  });
  assert.equal(res.status, 404);
  await res.body?.cancel();
  assert.equal(fake.calls.length, 0);
});

Deno.test("Telegram: a reply no outbound took in (a crash; here Telegram off) is sent after a restart, once", async () => {
  await using fake = FakeTelegram.start();
  const dir = await Deno.makeTempDir({ prefix: "tg-catchup-" });
  const kvPath = `${dir}/chat.kv`;
  try {
    let chatId = "";
    {
      await using server = await telegramServer(fake, kvPath);
      await using sockets = new Sockets();
      const op = await sockets.connect(server.wsUrl(await server.staffToken("op-1")));
      fake.push(textUpdate(300, "Hello", ADA));
      chatId = String((await op.next((f) => f.type === "new_chat_available")).payload.chat_id);
      assert.equal((await op.request("accept_chat", { chat_id: chatId })).type, "ack");
      const ack = await op.request("message", { chat_id: chatId, text: "first" });
      assert.equal(ack.type, "ack");
      // Sent and settled (a stop in the middle of a send sends it again after the restart).
      const kv = server.svc.system.journal.kv;
      await untilKv(kv, KEYS.sent(chatId, Number(ack.payload.seq), 0), (v) => v !== null);
      await fake.polled(301);
    }
    {
      // The fast path moved the chat's cursor up to its latest event (the channel mark).
      await using kv = await Deno.openKv(kvPath);
      const mark = (await kv.get<Deno.KvU64>(["feed_ch", chatId])).value?.value;
      assert.ok(mark && mark >= 4n);
      assert.equal((await kv.get(KEYS.cursor(chatId))).value, Number(mark));
    }
    {
      // Stored, marked, and never handed to an outbound.
      await using server = await startTestServer({}, { kvPath });
      await using sockets = new Sockets();
      const op = await sockets.connect(server.wsUrl(await server.staffToken("op-1")));
      assert.equal((await op.request("message", { chat_id: chatId, text: "second" })).type, "ack");
    }
    await using server = await telegramServer(fake, kvPath);
    const catchUp = telegramCatchUpOf(server.svc)!;
    await catchUp.look(); // the start's look saw the cursor behind; this one reads the log
    await fake.waitFor((c) => c.body.text === "second");
    assert.equal(catchUp.caughtUp, 1, "only the event after the cursor");
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^chat_telegram_caught_up_events_total 1$/m);
    await catchUp.look();
    await catchUp.look();
    assert.deepEqual(fake.sentTo(42).filter((t) => t === "first" || t === "second"), [
      "first",
      "second",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
