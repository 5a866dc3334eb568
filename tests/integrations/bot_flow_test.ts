/**
 * Bot end to end over a real server (offline matcher): BOT_MODE=all holds new chats with the bot;
 * answers are `bot_response` frames with intent, confidence and quick replies; a person is
 * reached by asking, by a keyword, or after two answers the bot was not sure of; the bot's turns
 * are in the history; BOT_MODE=waiting answers only while no operator is free.
 */
import assert from "node:assert/strict";
import { loadKnowledge } from "../../src/integrations/bot/knowledge.ts";
import type { Frame, WsClient } from "../integration/_harness.ts";
import { allEvents, Sockets } from "../integration/_util.ts";
import { accept, connectStaff, say } from "../integration/_routing_util.ts";
import {
  type BotServer,
  isBot,
  isType,
  meta,
  SAMPLE_KNOWLEDGE,
  startBotServer,
} from "./_bot_util.ts";

const knowledge = await loadKnowledge(SAMPLE_KNOWLEDGE);
const intent = (name: string) => knowledge.intents.find((i) => i.name === name)!;

/** A new chat and its client, following the chat from its first event. */
async function openChat(server: BotServer, sockets: Sockets, clientId: string) {
  const { token } = await server.auth.issueVisitorToken(clientId);
  const res = await fetch(`${server.url}/api/v1/chat/chats`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    body: "{}",
  });
  assert.equal(res.status, 201);
  const chat = await res.json();
  const client = await sockets.connect(
    server.wsUrl(chat.client_token, { chat_id: chat.chat_id, last_seq: 0 }),
  );
  return { chat, chatId: chat.chat_id as string, client };
}

const bots = (c: WsClient, chatId: string) => c.frames.filter(isBot(chatId));

async function ask(client: WsClient, chatId: string, text: string, answer: string) {
  const from = client.frames.length;
  const ack = await say(client, chatId, text);
  assert.equal(ack.type, "ack", JSON.stringify(ack));
  const reply = await client.next(isBot(chatId), { from });
  assert.equal(meta(reply).intent, answer, `${text} → ${JSON.stringify(reply.payload)}`);
  assert.ok((reply.payload.seq as number) > (ack.payload.seq as number));
  return reply;
}

Deno.test("bot (all): a held chat is welcomed and answered with intent, confidence and quick replies; asking for a human puts it in front of the free operator at once", async () => {
  await using server = await startBotServer({ BOT_MODE: "all", ROUTING_MODE: "auto" });
  await using sockets = new Sockets();
  const op = await connectStaff(server, sockets, "op-1");
  const { chat, chatId, client } = await openChat(server, sockets, "alice");
  assert.equal(chat.status, "bot");
  assert.equal(chat.position, 0);

  const welcome = await client.next(isBot(chatId, "welcome"));
  assert.equal(welcome.payload.content, knowledge.welcome!.answer);
  assert.deepEqual(meta(welcome).quick_replies, knowledge.welcome!.quick_replies);
  assert.equal(welcome.payload.id, `${chatId}:${welcome.payload.seq}`);
  // Held by the bot: not in the queue, so not offered to the free operator.
  assert.ok(!(await server.svc.queueSnapshot()).waiting.some((w) => w.chatId === chatId));

  const hours = await ask(client, chatId, "What are your opening hours?", "opening_hours");
  assert.equal(hours.payload.content, intent("opening_hours").answers[0]);
  assert.deepEqual(meta(hours).quick_replies, intent("opening_hours").quick_replies);
  assert.ok(meta(hours).confidence >= 0.4 && meta(hours).confidence <= 1);

  // The quick reply, as the widget sends it: its text as an ordinary message.
  const human = await ask(client, chatId, "Talk to a human", "human");
  assert.equal(meta(human).confidence, 1);
  const escalated = await client.next(isType("chat_escalated", chatId));
  assert.equal(escalated.payload.reason, "the client asked for a human");
  await client.next(isType("chat_queued", chatId));
  await op.next(isType("chat_offered", chatId));
  assert.equal((await accept(op, chatId)).type, "ack");
  await client.next(isType("chat_assigned", chatId));

  // With a person in the chat the bot is silent (decided as the message is stored).
  await say(client, chatId, "hello?");
  await op.next((f) => f.type === "message" && f.payload.message === "hello?");
  assert.equal(bots(client, chatId).length, 3);

  // The bot's turns are ordinary events of the chat's history, in order.
  const history = await allEvents(server, chatId, chat.client_token);
  assert.deepEqual(history.map((f) => f.type), [
    "chat_created",
    "bot_response",
    "message",
    "bot_response",
    "message",
    "bot_response",
    "chat_escalated",
    "chat_queued",
    "chat_assigned",
    "message",
  ]);
  assert.equal(history[0].payload.held, true);
  assert.deepEqual(history.filter(isBot(chatId)), bots(client, chatId));
});

Deno.test("bot (all): two answers in a row it is not sure of hand the chat over; a good answer in between resets the count", async () => {
  await using server = await startBotServer({ BOT_MODE: "all" });
  await using sockets = new Sockets();
  const { chatId, client } = await openChat(server, sockets, "bob");
  await client.next(isBot(chatId, "welcome"));

  const lost = await ask(client, chatId, "purple elephants dancing", "fallback");
  assert.equal(meta(lost).confidence, 0);
  assert.equal(lost.payload.content, knowledge.fallback.answer);
  assert.deepEqual(meta(lost).quick_replies, knowledge.fallback.quick_replies);
  await ask(client, chatId, "track my order", "order_status");
  await ask(client, chatId, "zebra crossing banana", "fallback");
  const handoff = await ask(client, chatId, "qwerty asdf", "handoff");
  assert.equal(handoff.payload.content, knowledge.handoff.answer);
  const escalated = await client.next(isType("chat_escalated", chatId));
  assert.equal(escalated.payload.reason, "not understood twice in a row");
  await client.next(isType("chat_queued", chatId));
  assert.ok((await server.svc.queueSnapshot()).waiting.some((w) => w.chatId === chatId));
  assert.equal((await server.svc.peek(chatId)).escalated, true);
});

Deno.test("bot (all): a configured keyword hands the chat over at once", async () => {
  await using server = await startBotServer({
    BOT_MODE: "all",
    BOT_ESCALATE_KEYWORDS: "lawyer, data breach",
  });
  await using sockets = new Sockets();
  const { chatId, client } = await openChat(server, sockets, "carol");
  await client.next(isBot(chatId, "welcome"));
  await ask(client, chatId, "My lawyers will hear about this", "handoff");
  const escalated = await client.next(isType("chat_escalated", chatId));
  assert.equal(escalated.payload.reason, 'keyword "lawyer"');
});

Deno.test("bot (all): a retried message (same client_msg_id) is answered once; bot stats count answers and hand-overs", async () => {
  await using server = await startBotServer({ BOT_MODE: "all" });
  await using sockets = new Sockets();
  const { chatId, client } = await openChat(server, sockets, "dave");
  await client.next(isBot(chatId, "welcome"));
  const first = await client.request("message", {
    chat_id: chatId,
    text: "where is my order",
    client_msg_id: "m-1",
  });
  await client.next(isBot(chatId, "order_status"));
  const again = await client.request("message", {
    chat_id: chatId,
    text: "where is my order",
    client_msg_id: "m-1",
  });
  assert.equal(again.payload.duplicate, true);
  assert.equal(again.payload.seq, first.payload.seq);
  // Answers come in message order, so an answer to the retry would arrive before this one.
  await ask(client, chatId, "thank you", "thanks");
  assert.deepEqual(bots(client, chatId).map((f) => meta(f).intent), [
    "welcome",
    "order_status",
    "thanks",
  ]);
  await ask(client, chatId, "operator", "human");
  await client.next(isType("chat_escalated", chatId));

  const token = await server.staffToken("op-1");
  const res = await fetch(`${server.url}/api/v1/chat/bot/stats?token=${token}`);
  assert.equal(res.status, 200);
  const stats = await res.json();
  assert.equal(stats.mode, "all");
  assert.equal(stats.brain, "matcher");
  assert.deepEqual(stats.answers, { welcome: 1, order_status: 1, thanks: 1, human: 1 });
  assert.deepEqual(stats.escalations, { asked: 1 });
  assert.deepEqual(stats.llm_fallbacks, {});
  const doc = await (await fetch(`${server.url}/api/v1/chat/openapi.json`)).json();
  assert.ok(doc.paths["/api/v1/chat/bot/stats"]?.get, "described in the OpenAPI document");
  const clientRes = await fetch(`${server.url}/api/v1/chat/bot/stats`, {
    headers: {
      authorization: `Bearer ${(await openChat(server, sockets, "x")).chat.client_token}`,
    },
  });
  assert.equal(clientRes.status, 403);
  await clientRes.body?.cancel();
});

Deno.test("bot (waiting): answers a queued chat only while no operator is free; asking for a human marks the chat and silences the bot", async () => {
  await using server = await startBotServer({ BOT_MODE: "waiting", DEFAULT_CAPACITY: "1" });
  await using sockets = new Sockets();
  const { chat, chatId, client } = await openChat(server, sockets, "erin");
  assert.equal(chat.status, "queued");
  await ask(client, chatId, "When are you open?", "opening_hours");

  // An operator with room: the chat will be taken soon, the bot stays out.
  const op = await connectStaff(server, sockets, "op-1");
  await say(client, chatId, "track my order");
  // The operator takes another chat and is at capacity: the bot answers again.
  const other = await server.createChat("frank");
  assert.equal((await accept(op, other.chat_id)).type, "ack");
  await ask(client, chatId, "thanks", "thanks");
  assert.deepEqual(bots(client, chatId).map((f) => meta(f).intent), ["opening_hours", "thanks"]);

  await ask(client, chatId, "can I talk to a real person", "human");
  const escalated = await client.next(isType("chat_escalated", chatId));
  assert.equal(escalated.payload.reason, "the client asked for a human");
  const view = await server.svc.peek(chatId);
  assert.equal(view.status, "queued");
  assert.equal(view.escalated, true);
  await say(client, chatId, "still there?");
  assert.equal(bots(client, chatId).length, 3, "no answer after the hand-over");
  const types = (await allEvents(server, chatId, chat.client_token)).map((f: Frame) => f.type);
  assert.deepEqual(types, [
    "chat_created",
    "chat_queued",
    "message",
    "bot_response",
    "message", // "track my order": an operator was free
    "message",
    "bot_response",
    "message",
    "bot_response",
    "chat_escalated",
    "message",
  ]);
});
