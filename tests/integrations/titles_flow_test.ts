/**
 * Chat titles end to end over a real server: the `chat_title` frame after the first client
 * message, refined after small talk; the title in the history, the chat's view and the staff
 * list `GET /api/v1/chat/titles`; with TITLE_MODE=llm the endpoint's title, and the extractive
 * one when it fails (500, a body that is not JSON, a timeout on the server's clock).
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/runtime/clock.ts";
import type { WsClient } from "../integration/_harness.ts";
import { allEvents, Sockets } from "../integration/_util.ts";
import { accept, connectStaff, say } from "../integration/_routing_util.ts";
import { FakeLlm } from "./_bot_fake_llm.ts";
import { type BotServer, isType, startBotServer } from "./_bot_util.ts";

async function openChat(server: BotServer, sockets: Sockets, clientId: string) {
  const chat = await server.createChat(clientId);
  const client = await sockets.connect(
    server.wsUrl(chat.client_token, { chat_id: chat.chat_id, last_seq: 0 }),
  );
  return { chat, chatId: chat.chat_id, client };
}

/** Sends `text` and resolves with the next `chat_title` of the chat. */
async function titled(client: WsClient, chatId: string, text: string): Promise<string> {
  const from = client.frames.length;
  assert.equal((await say(client, chatId, text)).type, "ack");
  return (await client.next(isType("chat_title", chatId), { from })).payload.title as string;
}

const titles = (c: WsClient, chatId: string) =>
  c.frames.filter(isType("chat_title", chatId)).map((f) => f.payload.title);

async function listTitles(server: BotServer, token: string) {
  const res = await fetch(`${server.url}/api/v1/chat/titles`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: await res.json() };
}

Deno.test("titles (extractive): the first message titles the chat, small talk is refined; staff see titles in the list, the view and the history", async () => {
  await using server = await startBotServer({ TITLE_MODE: "extractive" });
  await using sockets = new Sockets();
  const op = await connectStaff(server, sockets, "op-1");
  const opToken = await server.staffToken("op-1");
  const { chat, chatId, client } = await openChat(server, sockets, "alice");

  assert.equal(await titled(client, chatId, "hi"), "Hi");
  await say(client, chatId, "hello?");
  assert.equal(
    await titled(client, chatId, "Where is my order? It was due Monday"),
    "Where is my order",
  );
  // Titles are made in message order, so "hello?" would have titled the chat in between.
  assert.deepEqual(titles(client, chatId), ["Hi", "Where is my order"]);
  assert.equal((await server.svc.peek(chatId)).title, "Where is my order");

  const untitled = await server.createChat("bob");
  const waiting = await listTitles(server, opToken);
  assert.equal(waiting.status, 200);
  assert.deepEqual(waiting.body, {
    chats: [
      {
        chat_id: chatId,
        state: "waiting",
        client_id: "alice",
        operator_id: null,
        title: "Where is my order",
      },
      {
        chat_id: untitled.chat_id,
        state: "waiting",
        client_id: "bob",
        operator_id: null,
        title: null,
      },
    ],
    total: 2,
  });

  assert.equal((await accept(op, chatId)).type, "ack");
  await client.next(isType("chat_assigned", chatId));
  const active = await listTitles(server, opToken);
  assert.deepEqual(active.body.chats[1], {
    chat_id: chatId,
    state: "active",
    client_id: "alice",
    operator_id: "op-1",
    title: "Where is my order",
  });
  const limited = await fetch(`${server.url}/api/v1/chat/titles?limit=1&token=${opToken}`);
  assert.deepEqual((await limited.json()).chats.length, 1);
  assert.equal((await listTitles(server, chat.client_token)).status, 403);

  const doc = await (await fetch(`${server.url}/api/v1/chat/openapi.json`)).json();
  assert.ok(doc.paths["/api/v1/chat/titles"]?.get, "described in the OpenAPI document");

  const history = await allEvents(server, chatId, chat.client_token);
  assert.deepEqual(
    history.filter((f) => f.type === "chat_title").map((f) => f.payload.title),
    ["Hi", "Where is my order"],
  );
});

Deno.test("titles (llm): the endpoint's title is used; 500, a body that is not JSON and a timeout give the extractive title", async () => {
  await using fake = new FakeLlm();
  const clock = new ManualClock();
  await using server = await startBotServer({
    TITLE_MODE: "llm",
    BOT_LLM_URL: fake.url,
    BOT_LLM_API_KEY: "sk-title-key",
    TITLE_LLM_MODEL: "title-model",
    BOT_LLM_TIMEOUT_MS: "4000",
  }, { clock });
  await using sockets = new Sockets();

  fake.script({
    kind: "answer",
    content: JSON.stringify({ title: "“Late delivery of order 1234.”" }),
  });
  const a = await openChat(server, sockets, "a");
  assert.equal(
    await titled(a.client, a.chatId, "hello, my order 1234 is late"),
    "Late delivery of order 1234",
  );
  const [req] = fake.requests;
  assert.equal(req.authorization, "Bearer sk-title-key");
  assert.equal(req.body.model, "title-model");
  assert.match(req.body.messages[0].content, /title/);
  assert.deepEqual(req.body.messages[1], { role: "user", content: "hello, my order 1234 is late" });

  fake.script({ kind: "status", status: 500 }, { kind: "raw", body: "not json" });
  const b = await openChat(server, sockets, "b");
  assert.equal(
    await titled(b.client, b.chatId, "My invoice from May is wrong."),
    "My invoice from May is wrong",
  );
  const c = await openChat(server, sockets, "c");
  assert.equal(await titled(c.client, c.chatId, "Do you ship to Canada?"), "Do you ship to Canada");

  fake.script({ kind: "hang" });
  const d = await openChat(server, sockets, "d");
  const from = d.client.frames.length;
  await say(d.client, d.chatId, "I need help with a refund");
  await fake.received(4);
  await clock.advance(4_000);
  const late = await d.client.next(isType("chat_title", d.chatId), { from });
  assert.equal(late.payload.title, "A refund");

  const reasons = server.logs.filter((l) =>
    l.msg === "titles: LLM failed, extractive title instead"
  )
    .map((l) => l.fields.reason);
  assert.deepEqual(reasons, ["http_error", "bad_json", "timeout"]);
  assert.ok(!JSON.stringify(server.logs).includes("sk-title-key"));
});

Deno.test("titles: TITLE_MODE=llm without an endpoint stops the start with a clear error", async () => {
  await assert.rejects(startBotServer({ TITLE_MODE: "llm" }), /TITLE_MODE=llm needs TITLE_LLM_URL/);
});
