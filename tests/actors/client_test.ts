/** Client actor: the list of a client's chats (support and lawyer chats). */
import assert from "node:assert/strict";
import {
  CLIENT_CHATS_LIMIT,
  type ClientChat,
  type ClientCommand,
  clientEntity,
  type ClientState,
} from "../../actors/mod.ts";
import { ActorTestKit } from "../../src/runtime/testkit.ts";
import { run, T0 } from "./_queue_helpers.ts";

const ctx = { id: "c1", now: T0, nextSeq: 1 };
const send = (s: ClientState, cmd: ClientCommand) => run(clientEntity, s, cmd, ctx);
const empty = () => clientEntity.initialState("c1");
const support = (chatId: string, createdAt = T0): ClientChat => ({
  chatId,
  kind: "support",
  createdAt,
});
const linked = (chat: ClientChat): ClientCommand => ({ type: "chat_linked", ...chat });

Deno.test("client: chat_linked stores the chat and replies the whole list", () => {
  const lawyerChat: ClientChat = {
    chatId: "chat-2",
    kind: "lawyer",
    createdAt: T0 + 5,
    lawyerId: "law1",
    linkedChatId: "chat-1",
  };
  const a = send(empty(), linked(support("chat-1")));
  assert.deepEqual(a.events, [{ type: "chat_linked", ...support("chat-1") }]);
  assert.deepEqual(a.reply, { chats: [support("chat-1")] });
  const b = send(a.state, linked(lawyerChat));
  assert.deepEqual(b.reply.chats, [support("chat-1"), lawyerChat]);
  assert.deepEqual(b.state, { id: "c1", chats: [support("chat-1"), lawyerChat] });
});

Deno.test("client: chat_linked is idempotent per chat id", () => {
  const s = send(empty(), linked(support("chat-1"))).state;
  const again = send(s, linked(support("chat-1", T0 + 99)));
  assert.deepEqual(again.events, []);
  assert.deepEqual(again.reply, { chats: [support("chat-1")] });
  assert.deepEqual(again.state, s);
});

Deno.test("client: list returns the chats, oldest first, and stores nothing", () => {
  let s = empty();
  assert.deepEqual(send(s, { type: "list" }).reply, { chats: [] });
  for (const id of ["a", "b", "c"]) s = send(s, linked(support(id))).state;
  const r = send(s, { type: "list" });
  assert.deepEqual(r.events, []);
  assert.deepEqual(r.reply.chats.map((c) => c.chatId), ["a", "b", "c"]);
});

Deno.test("client: the list keeps only the newest CLIENT_CHATS_LIMIT chats", () => {
  let s = empty();
  const total = CLIENT_CHATS_LIMIT + 5;
  for (let i = 0; i < total; i++) s = send(s, linked(support(`chat-${i}`, T0 + i))).state;
  assert.equal(s.chats.length, CLIENT_CHATS_LIMIT);
  assert.equal(s.chats[0].chatId, "chat-5");
  assert.equal(s.chats.at(-1)?.chatId, `chat-${total - 1}`);
  assert.equal(send(s, { type: "list" }).reply.chats.length, CLIENT_CHATS_LIMIT);
});

Deno.test("client: the list survives a crash restart (test kit)", async () => {
  const kit = await ActorTestKit.create(clientEntity, "c1");
  await kit.run(linked(support("chat-1")));
  const dup = await kit.run(linked(support("chat-1")));
  assert.deepEqual(dup.events, []);
  kit.restart();
  const r = await kit.run({ type: "list" });
  assert.deepEqual(r.reply, { chats: [support("chat-1")] });
  await kit.close();
});
