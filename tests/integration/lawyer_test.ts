import assert from "node:assert/strict";
import { startTestServer } from "./_harness.ts";
import { assertAck, assertError, connectStaff, isFrame, say } from "./_routing_util.ts";
import { allEvents, assignedChat, range, Sockets } from "./_util.ts";

Deno.test("assign_lawyer opens a separate lawyer chat that outlives the support chat", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op } = await assignedChat(server, sockets, "op-1", "alice");
  const lawyer = await connectStaff(server, sockets, "law-1", "lawyer");
  await connectStaff(server, sockets, "op-2");

  // Only the chat's operator may, and only a lawyer can be assigned.
  const other = await connectStaff(server, sockets, "op-3");
  const denied = await other.request("assign_lawyer", {
    chat_id: chat.chat_id,
    lawyer_id: "law-1",
  });
  assertError(denied, "forbidden");
  const notLawyer = await op.request("assign_lawyer", { chat_id: chat.chat_id, lawyer_id: "op-2" });
  assertError(notLawyer, "invalid_payload");

  const ack = assertAck(
    await op.request("assign_lawyer", { chat_id: chat.chat_id, lawyer_id: "law-1" }),
  );
  const lawyerChatId = ack.payload.chat_id as string;
  assert.notEqual(lawyerChatId, chat.chat_id);
  const told = await client.next(isFrame("lawyer_assigned", chat.chat_id));
  assert.equal(told.payload.lawyer_chat_id, lawyerChatId);
  assert.equal(told.payload.lawyer_id, "law-1");
  assert.equal(told.payload.by, "op-1");
  const assigned = await lawyer.next(isFrame("chat_assigned", lawyerChatId));
  assert.equal(assigned.payload.operator_id, "law-1");
  assert.equal(assigned.payload.role, "lawyer");
  assert.equal(assigned.payload.client_id, "alice");
  // The lawyer does not follow the support chat.
  assert.equal(lawyer.frames.filter((f) => f.payload.chat_id === chat.chat_id).length, 0);

  // The support chat closes; the lawyer chat stays open for both sides.
  assertAck(await op.request("close_chat", { chat_id: chat.chat_id, reason: "solved" }));
  await client.next(isFrame("chat_closed", chat.chat_id));
  assertError(await client.request("message", { text: "one more thing" }), "chat_closed");
  const view = await server.svc.peek(lawyerChatId);
  assert.equal(view.status, "assigned");
  assert.equal(view.kind, "lawyer");

  const { token } = await server.auth.issueClientToken(lawyerChatId, "alice");
  const lawClient = await sockets.connect(server.wsUrl(token));
  const hello = assertAck(await say(lawyer, lawyerChatId, "I am your lawyer"));
  await lawClient.next((f) => f.type === "message" && f.payload.seq === hello.payload.seq);
  const q = assertAck(await lawClient.request("message", { text: "can you help?" }));
  const got = await lawyer.next((f) => f.type === "message" && f.payload.seq === q.payload.seq);
  assert.equal(got.payload.sender_role, "client");
  // The support chat's operator has no say in the lawyer chat.
  assertError(await say(op, lawyerChatId, "me too"), "forbidden");
  // The lawyer chat's token does not open the support chat.
  assertError(
    await lawClient.request("message", { chat_id: chat.chat_id, text: "x" }),
    "forbidden",
  );

  // Resume: the client drops, misses two messages, reconnects with last_seq and gets them.
  const lastSeen = q.payload.seq as number;
  await lawClient.close();
  await say(lawyer, lawyerChatId, "I looked at your file");
  const last = assertAck(await say(lawyer, lawyerChatId, "call me tomorrow")).payload.seq as number;
  const again = await sockets.connect(server.wsUrl(token, { last_seq: lastSeen }));
  const resumed = await again.next(isFrame("resumed", lawyerChatId));
  assert.deepEqual(resumed.payload, { chat_id: lawyerChatId, from_seq: lastSeen, to_seq: last });
  assert.deepEqual(again.seqs(lawyerChatId), range(lastSeen + 1, last));
  // And the resume frame on an open connection replays the whole chat.
  assertAck(await again.request("resume", { last_seq: 0 }));
  await again.next((f) => f.type === "resumed" && f.payload.from_seq === 0);
  assert.deepEqual(again.seqs(lawyerChatId), [...range(lastSeen + 1, last), ...range(1, last)]);

  // Histories: the support chat logs the assignment, the lawyer chat links back to it.
  const support = await allEvents(server, chat.chat_id, chat.client_token);
  const logged = support.filter(isFrame("lawyer_assigned"));
  assert.equal(logged.length, 1);
  assert.equal(logged[0].payload.lawyer_chat_id, lawyerChatId);
  const lawEvents = await allEvents(server, lawyerChatId, token);
  assert.deepEqual(lawEvents.slice(0, 2).map((e) => e.type), ["chat_created", "chat_assigned"]);
  assert.equal(lawEvents[0].payload.kind, "lawyer");
  assert.equal((await server.svc.peek(lawyerChatId)).linkedChatId, chat.chat_id);
  assert.equal((await server.svc.peek(lawyerChatId)).status, "assigned");
});

Deno.test("a lawyer who connects later follows their lawyer chat", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, op } = await assignedChat(server, sockets, "op-1", "bob");
  const ack = assertAck(
    await op.request("assign_lawyer", { client_id: "bob", lawyer_id: "law-2" }),
  );
  const lawyerChatId = ack.payload.chat_id as string;
  const { token } = await server.auth.issueClientToken(lawyerChatId, "bob");
  const client = await sockets.connect(server.wsUrl(token));
  assertAck(await client.request("message", { text: "hello?" }));

  const lawyer = await connectStaff(server, sockets, "law-2", "lawyer");
  const sent = assertAck(await say(lawyer, lawyerChatId, "here now"));
  await client.next((f) => f.type === "message" && f.payload.seq === sent.payload.seq);
  const reply = assertAck(await client.request("message", { text: "thanks" }));
  await lawyer.next((f) => f.type === "message" && f.payload.seq === reply.payload.seq);
  assert.equal((await server.svc.peek(chat.chat_id)).status, "assigned");
});
