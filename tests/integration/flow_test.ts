import assert from "node:assert/strict";
import { startTestServer, WsClient } from "./_harness.ts";

Deno.test("a client chat is queued, accepted, talked in, closed and rated over WebSockets", async () => {
  await using server = await startTestServer();
  const op = await WsClient.connect(server.wsUrl(await server.staffToken("op-1")));
  const chat = await server.createChat("alice");
  const available = await op.next((f) => f.type === "new_chat_available");
  assert.equal(available.payload.chat_id, chat.chat_id);
  const client = await WsClient.connect(chat.ws_url);

  const accepted = await op.request("accept_chat", { chat_id: chat.chat_id });
  assert.equal(accepted.type, "ack");
  const assigned = await client.next((f) => f.type === "chat_assigned");
  assert.equal(assigned.payload.operator_id, "op-1");
  await op.next((f) => f.type === "chat_assigned");

  const ack = await client.request("message", { text: "hello", client_msg_id: "m1" });
  assert.equal(ack.type, "ack");
  const got = await op.next((f) => f.type === "message" && f.payload.message === "hello");
  assert.equal(got.payload.seq, ack.payload.seq);

  const reply = await op.request("message", { chat_id: chat.chat_id, text: "hi, how can I help?" });
  assert.equal(reply.type, "ack");
  await client.next((f) => f.type === "message" && f.payload.sender_id === "op-1");

  assert.equal((await client.request("close_chat", { reason: "solved" })).type, "ack");
  await op.next((f) => f.type === "chat_closed");
  const rated = await client.request("rate", { score: 5, comment: "quick and kind" });
  assert.equal(rated.type, "ack");
  await op.next((f) => f.type === "chat_rated");

  const res = await fetch(
    `${server.url}/api/v1/chat/chats/${chat.chat_id}/history?token=${chat.client_token}`,
  );
  const history = await res.json();
  assert.deepEqual(
    history.events.map((e: { type: string }) => e.type),
    [
      "chat_created",
      "chat_queued",
      "chat_assigned",
      "message",
      "message",
      "chat_closed",
      "chat_rated",
    ],
  );
  await client.close();
  await op.close();
});

Deno.test("a new staff connection lists the chats assigned to that user in connected", async () => {
  await using server = await startTestServer();
  const token = await server.staffToken("op-tabs");
  const first = await WsClient.connect(server.wsUrl(token));
  const [a, b] = [await server.createChat("ca"), await server.createChat("cb")];
  assert.equal((await first.request("accept_chat", { chat_id: a.chat_id })).type, "ack");
  assert.equal((await first.request("accept_chat", { chat_id: b.chat_id })).type, "ack");
  const client = await WsClient.connect(b.ws_url);
  assert.equal((await client.request("close_chat", {})).type, "ack");
  await first.next((f) => f.type === "chat_closed");
  const second = await WsClient.connect(server.wsUrl(token));
  const hello = second.ofType("connected")[0];
  assert.deepEqual(hello.payload.open_chats, [a.chat_id], "open, and only the open ones");
  for (const s of [client, first, second]) await s.close();
});

Deno.test("a staff queue_snapshot lists the head (QUEUE_HEAD_SIZE chats), in order, with the total", async () => {
  await using server = await startTestServer({ QUEUE_HEAD_SIZE: "20" });
  const created = [];
  for (let i = 0; i < 25; i++) created.push((await server.createChat(`c${i}`)).chat_id);
  const op = await WsClient.connect(server.wsUrl(await server.staffToken("op-snap")));
  const snap = await op.next((f) => f.type === "queue_snapshot");
  const chats = snap.payload.chats as Array<{ chat_id: string }>;
  assert.deepEqual([snap.payload.total, snap.payload.active, snap.payload.head_size], [25, 0, 20]);
  assert.deepEqual(chats.map((c) => c.chat_id), created.slice(0, 20));
  await op.close();
});
