/**
 * @mentions in internal notes (issue 14): a note's `@<id>` tells that staff member (`mention`)
 * and only them; from then on they may read the chat, its notes and its client, read-only.
 * Lawyers are never mentioned into a support chat (they never see its notes), nor is anyone
 * who is not staff.
 */
import assert from "node:assert/strict";
import { startTestServer } from "./_harness.ts";
import { assertAck, assertError, connectStaff, say } from "./_routing_util.ts";
import { assignedChat, Sockets } from "./_util.ts";
import { apiGet, note, sawText, staffEvents } from "./_staff_util.ts";

Deno.test("a mention reaches the named staff member only, who may then read the chat read-only", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op } = await assignedChat(server, sockets, "op-1", "alice");
  const id = chat.chat_id;
  const op2 = await connectStaff(server, sockets, "op-2");
  const op3 = await connectStaff(server, sockets, "op-3");
  const lawyer = await connectStaff(server, sockets, "law-1", "lawyer");
  const tokens = {
    op2: await server.staffToken("op-2"),
    op3: await server.staffToken("op-3"),
    law: await server.staffToken("law-1", "lawyer"),
  };
  // Before: op-2 may not read the chat or its notes.
  for (const path of [`chats/${id}/notes`, `chats/${id}/history`, `chats/${id}/client`]) {
    assert.equal((await apiGet(server, path, tokens.op2)).status, 403, path);
  }

  const text = "@op-2 could you check the refund? cc @law-1 @nobody @alice";
  const ack = await note(op, id, text);
  // Only known staff are mentioned: not a lawyer in a support chat, not unknown ids or clients.
  assert.deepEqual(ack.payload.mentions, ["op-2"]);
  const told = await op2.next((f) => f.type === "mention");
  assert.deepEqual(told.payload, { chat_id: id, by: "op-1", note_seq: 1, text });

  const m = assertAck(await say(op, id, "checking with a colleague"));
  await client.next((f) => f.type === "message" && f.payload.seq === m.payload.seq);
  // A reply on each socket after the note: a mention sent to them would have come before it.
  assert.equal((await op3.request("ping")).type, "pong");
  assert.equal((await lawyer.request("ping")).type, "pong");
  for (const [who, ws] of [["op-3", op3], ["law-1", lawyer], ["client", client]] as const) {
    assert.equal(ws.frames.some((f) => f.type === "mention"), false, who);
    assert.equal(sawText(ws.frames, "refund?"), false, who);
  }

  // After: op-2 reads notes, history, the client's profile and the transcript...
  const notes = await apiGet(server, `chats/${id}/notes`, tokens.op2);
  assert.equal(notes.status, 200);
  assert.equal(notes.body.events[0].payload.text, text);
  assert.equal((await apiGet(server, `chats/${id}/history`, tokens.op2)).status, 200);
  assert.equal((await apiGet(server, `chats/${id}/client`, tokens.op2)).status, 200);
  assert.equal((await apiGet(server, `chats/${id}/transcript`, tokens.op2)).status, 200);
  // ...and follows the staff stream when asked...
  assertAck(await op2.request("resume", { chat_id: id, last_seq: 0, stream: "staff" }));
  await op2.next((f) => f.type === "resumed" && f.payload.stream === "staff");
  assert.deepEqual(staffEvents(op2, id), [["note", 1]]);
  // ...but writes nothing there.
  assertError(await op2.request("note", { chat_id: id, text: "me too" }), "forbidden");
  assertError(await op2.request("set_labels", { chat_id: id, labels: ["x"] }), "forbidden");
  assertError(await say(op2, id, "hello"), "forbidden");
  assertError(await op2.request("close_chat", { chat_id: id }), "forbidden");

  // Others still may not.
  assert.equal((await apiGet(server, `chats/${id}/notes`, tokens.op3)).status, 403);
  assert.equal((await apiGet(server, `chats/${id}/history`, tokens.op3)).status, 403);
  assert.equal((await apiGet(server, `chats/${id}/notes`, tokens.law)).status, 403);
});

Deno.test("lawyers never see the notes of a support chat, even assigned from it; their lawyer chat has its own", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, op } = await assignedChat(server, sockets, "op-1", "bob");
  const lawyer = await connectStaff(server, sockets, "law-1", "lawyer");
  const lawToken = await server.staffToken("law-1", "lawyer");
  const opToken = await server.staffToken("op-1");
  await note(op, chat.chat_id, "support-only note");
  const ack = assertAck(
    await op.request("assign_lawyer", { chat_id: chat.chat_id, lawyer_id: "law-1" }),
  );
  const lawyerChat = ack.payload.chat_id as string;
  await note(op, chat.chat_id, "after the lawyer came: @law-1 still may not read this");
  assert.equal((await apiGet(server, `chats/${chat.chat_id}/notes`, lawToken)).status, 403);
  assertError(
    await lawyer.request("resume", { chat_id: chat.chat_id, last_seq: 0, stream: "staff" }),
    "forbidden",
  );
  assert.equal(lawyer.frames.some((f) => f.type === "mention"), false);

  // The lawyer keeps notes in the lawyer chat; the support operator reads them once mentioned.
  await lawyer.next((f) => f.type === "chat_assigned" && f.payload.chat_id === lawyerChat);
  await note(lawyer, lawyerChat, "Contract has a penalty clause");
  await lawyer.next((f) => f.type === "note" && f.payload.chat_id === lawyerChat);
  assert.equal((await apiGet(server, `chats/${lawyerChat}/notes`, opToken)).status, 403);
  const mentioned = await note(lawyer, lawyerChat, "@op-1 FYI: the client may call you back");
  assert.deepEqual(mentioned.payload.mentions, ["op-1"]);
  await op.next((f) => f.type === "mention" && f.payload.chat_id === lawyerChat);
  const page = await apiGet(server, `chats/${lawyerChat}/notes`, opToken);
  assert.equal(page.status, 200);
  assert.equal(page.body.events.length, 2);
  assertError(await say(op, lawyerChat, "me too"), "forbidden");
});
