/**
 * Bot end to end with the LLM brain (a local fake OpenAI-compatible server, the server on a
 * manual clock): the endpoint's answer is what the client gets, with the chat's turns as
 * context; 500, 429, a body that is not the asked JSON and a timeout are answered offline, and
 * logged and counted by reason; an escalating intent from the LLM hands the chat over.
 */
import assert from "node:assert/strict";
import { loadKnowledge } from "../../src/integrations/bot/knowledge.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import type { WsClient } from "../integration/_harness.ts";
import { Sockets } from "../integration/_util.ts";
import { say } from "../integration/_routing_util.ts";
import { botJson, FakeLlm } from "./_bot_fake_llm.ts";
import { isBot, isType, meta, SAMPLE_KNOWLEDGE, startBotServer } from "./_bot_util.ts";

const knowledge = await loadKnowledge(SAMPLE_KNOWLEDGE);
const answerOf = (name: string) => knowledge.intents.find((i) => i.name === name)!.answers[0];
const KEY = "sk-live-do-not-log-4711";

/** Sends `text` and resolves with the next bot answer in the chat. */
async function answerTo(client: WsClient, chatId: string, text: string) {
  const from = client.frames.length;
  assert.equal((await say(client, chatId, text)).type, "ack");
  return await client.next(isBot(chatId), { from });
}

Deno.test("bot (llm): answers come from the endpoint; its failures are answered offline, logged and counted by reason", async () => {
  await using fake = new FakeLlm();
  const clock = new ManualClock();
  await using server = await startBotServer({
    BOT_MODE: "all",
    BOT_LLM_URL: fake.url,
    BOT_LLM_API_KEY: KEY,
    BOT_LLM_MODEL: "fake-model",
    BOT_LLM_TIMEOUT_MS: "5000",
  }, { clock });
  await using sockets = new Sockets();
  const chat = await server.createChat("gina");
  const chatId = chat.chat_id;
  const client = await sockets.connect(
    server.wsUrl(chat.client_token, { chat_id: chatId, last_seq: 0 }),
  );
  await client.next(isBot(chatId, "welcome"));

  fake.script({
    kind: "answer",
    content: botJson("order_status", 0.93, "Your parcel left our warehouse today.", [
      "Track my order",
    ]),
  });
  const good = await answerTo(client, chatId, "where is my stuff??");
  assert.equal(good.payload.content, "Your parcel left our warehouse today.");
  assert.deepEqual(meta(good), {
    intent: "order_status",
    confidence: 0.93,
    quick_replies: ["Track my order"],
  });
  const [req] = fake.requests;
  assert.equal(req.authorization, `Bearer ${KEY}`);
  assert.equal(req.body.model, "fake-model");
  assert.ok(req.body.messages[0].content.includes(answerOf("returns")), "knowledge in the prompt");
  assert.deepEqual(req.body.messages.slice(1), [
    { role: "assistant", content: knowledge.welcome!.answer },
    { role: "user", content: "where is my stuff??" },
  ]);

  fake.script(
    { kind: "status", status: 500 },
    { kind: "status", status: 429 },
    { kind: "answer", content: "We open at nine!" },
  );
  const offline: Array<[string, string]> = [
    ["What are your opening hours?", "opening_hours"],
    ["track my order", "order_status"],
    ["I want a refund", "returns"],
  ];
  for (const [text, intent] of offline) {
    const a = await answerTo(client, chatId, text);
    assert.equal(meta(a).intent, intent);
    assert.equal(a.payload.content, answerOf(intent));
  }

  // No answer at all: the timeout (on the server's clock) gives the offline answer.
  fake.script({ kind: "hang" });
  const from = client.frames.length;
  await say(client, chatId, "reset my password");
  await fake.received(5);
  await clock.advance(5_000);
  const late = await client.next(isBot(chatId), { from });
  assert.equal(meta(late).intent, "account_password");

  const warnings = server.logs.filter((l) => l.msg === "bot: LLM failed, answering offline");
  assert.deepEqual(warnings.map((l) => l.fields.reason), [
    "http_error",
    "rate_limited",
    "bad_json",
    "timeout",
  ]);
  assert.ok(!JSON.stringify(server.logs).includes(KEY), "the API key is never logged");
  const token = await server.staffToken("adm", "admin");
  const stats = await (await fetch(`${server.url}/api/v1/chat/bot/stats?token=${token}`)).json();
  assert.equal(stats.brain, "llm");
  assert.deepEqual(stats.llm_fallbacks, {
    http_error: 1,
    rate_limited: 1,
    bad_json: 1,
    timeout: 1,
  });

  // The LLM recognises a request for a person the offline rules do not know.
  fake.script({ kind: "answer", content: botJson("human", 0.88, "Let me get a colleague.") });
  const human = await answerTo(client, chatId, "could a colleague of yours look at this");
  assert.equal(human.payload.content, "Let me get a colleague.");
  const escalated = await client.next(isType("chat_escalated", chatId));
  assert.equal(escalated.payload.reason, "the client asked for a human");
  assert.equal(fake.requests.length, 6);
});
