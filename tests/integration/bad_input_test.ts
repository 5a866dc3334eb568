import assert from "node:assert/strict";
import { type Frame, startTestServer } from "./_harness.ts";
import { allEvents, assignedChat, sendMessages, Sockets } from "./_util.ts";

const isError = (f: Frame) => f.type === "error";

Deno.test("invalid JSON gets a bad_json error without ref and the connection keeps working", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { client } = await assignedChat(server, sockets);

  client.ws.send('{"type":"message","payload":{"text":"oops"},"ref":"j-1"');
  const err = await client.next(isError);
  assert.equal(err.payload.code, "bad_json");
  assert.equal(err.payload.retryable, false);
  assert.equal(err.ref, undefined);

  const ack = await client.request("message", { text: "still here" });
  assert.equal(ack.type, "ack");
});

Deno.test("an unknown frame type gets unknown_type with its ref echoed", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { client } = await assignedChat(server, sockets);

  client.send("teleport", { to: "mars" }, "u-1");
  const err = await client.next((f) => f.ref === "u-1");
  assert.equal(err.type, "error");
  assert.equal(err.payload.code, "unknown_type");
  assert.equal((await client.request("ping")).type, "pong");
});

Deno.test("schema violations get invalid_payload naming the field, with ref echoed", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { client } = await assignedChat(server, sockets);

  const badText = await client.request("message", { text: 42 });
  assert.equal(badText.type, "error");
  assert.equal(badText.payload.code, "invalid_payload");
  assert.match(badText.payload.message as string, /payload\.text/);
  const badScore = await client.request("rate", { score: 9 });
  assert.equal(badScore.payload.code, "invalid_payload");
  assert.match(badScore.payload.message as string, /payload\.score/);
  const emptyText = await client.request("message", { text: "" });
  assert.equal(emptyText.payload.code, "invalid_payload");

  // JSON that is not a frame object.
  client.ws.send("[1,2,3]");
  const notObject = await client.next(isError);
  assert.equal(notObject.payload.code, "invalid_payload");

  assert.equal((await client.request("message", { text: "valid" })).type, "ack");
});

Deno.test("a binary frame closes the socket with 1003, whatever its size; what was acked stays", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client } = await assignedChat(server, sockets);
  const acked = await sendMessages(client, 2);
  client.ws.send(new Uint8Array([1, 2, 3]));
  const closed = await client.closed();
  assert.equal(closed.code, 1003);
  const events = await allEvents(server, chat.chat_id, chat.client_token);
  assert.deepEqual(events.filter((e) => e.type === "message").map((e) => e.payload.seq), acked);
});

Deno.test("a frame over 64 KiB closes the socket with 1009 and loses nothing acknowledged before", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op } = await assignedChat(server, sockets);
  const acked = await sendMessages(client, 3);

  // Bad input of every kind first: none of it closes the connection or drops stored messages.
  client.ws.send("not json");
  await client.next(isError);
  assert.equal((await client.request("nope")).payload.code, "unknown_type");
  assert.equal((await client.request("message", {})).payload.code, "invalid_payload");
  acked.push(...await sendMessages(client, 1, {}, "after bad input"));

  client.send("message", { text: "x".repeat(70 * 1024) }, "big");
  const closed = await client.closed();
  assert.equal(closed.code, 1009);
  assert.equal(client.frames.find((f) => f.ref === "big"), undefined);

  const events = await allEvents(server, chat.chat_id, chat.client_token);
  const messages = events.filter((e) => e.type === "message");
  assert.deepEqual(messages.map((e) => e.payload.seq), acked);
  assert.ok(messages.every((e) => (e.payload.message as string).length < 100));

  // The chat and the other side are unaffected.
  assert.equal((await op.request("message", { chat_id: chat.chat_id, text: "ok?" })).type, "ack");
  const back = await sockets.connect(chat.ws_url);
  assert.equal((await back.request("message", { text: "back" })).type, "ack");
});

Deno.test("a text over MAX_TEXT_LENGTH gets text_too_long and is not stored; one at the limit is", async () => {
  await using server = await startTestServer({ MAX_TEXT_LENGTH: "10" });
  await using sockets = new Sockets();
  const { chat, client } = await assignedChat(server, sockets);

  const tooLong = await client.request("message", { text: "12345678901" });
  assert.equal(tooLong.type, "error");
  assert.equal(tooLong.payload.code, "text_too_long");
  assert.equal(tooLong.payload.retryable, false);
  const atLimit = await client.request("message", { text: "1234567890" });
  assert.equal(atLimit.type, "ack");

  const events = await allEvents(server, chat.chat_id, chat.client_token);
  const texts = events.filter((e) => e.type === "message").map((e) => e.payload.message);
  assert.deepEqual(texts, ["1234567890"]);
});

Deno.test("the rate limit answers rate_limited after 5 messages per user, over all their connections; other users are unaffected", async () => {
  await using server = await startTestServer({ RATE_LIMIT_PER_MIN: "5" });
  await using sockets = new Sockets();
  const { chat, client } = await assignedChat(server, sockets);
  const other = await server.createChat("bob");
  const bob = await sockets.connect(other.ws_url);

  const acked = await sendMessages(client, 5);
  const limited = await client.request("message", { text: "one too many" });
  assert.equal(limited.type, "error");
  assert.equal(limited.payload.code, "rate_limited");
  assert.equal(limited.payload.retryable, true);
  // Other frame types on the same connection have their own budget.
  assert.equal((await client.request("typing", { is_typing: true })).type, "ack");

  // The budget is the user's, not the socket's: a second tab (a reconnect) does not reset it.
  const tab = await sockets.connect(chat.ws_url);
  const fromTab = await tab.request("message", { text: "from the tab" });
  assert.equal(fromTab.payload.code, "rate_limited");
  assert.match(fromTab.payload.message as string, /messages/);
  // Another user keeps their own.
  const bobAcks = await sendMessages(bob, 5, {}, "bob");
  assert.equal(bobAcks.length, 5);

  const events = await allEvents(server, chat.chat_id, chat.client_token);
  const stored = events.filter((e) => e.type === "message").map((e) => e.payload.seq);
  assert.deepEqual(stored, acked);
});
