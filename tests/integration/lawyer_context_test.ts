/**
 * The lawyer chat with its context (issue 14): who assigned the lawyer and why, on both chats;
 * the lawyer reads the linked support chat and its client, read-only; the client learns of the
 * lawyer chat live and finds it in `GET /me/chats` with a chat token; and the agent's name
 * (`operator_name`) on assignments and transfers.
 */
import assert from "node:assert/strict";
import { startTestServer, WsClient } from "./_harness.ts";
import { assertAck, assertError, connectStaff, isFrame, say } from "./_routing_util.ts";
import { allEvents, assignedChat, Sockets } from "./_util.ts";
import { apiGet, getOk, type Json } from "./_staff_util.ts";

Deno.test("assign_lawyer carries who and why into both chats; the lawyer reads the support chat read-only", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op } = await assignedChat(server, sockets, "op-1", "alice");
  const lawToken = await server.staffToken("law-1", "lawyer", "Ivan Petrov");
  const lawyer = await sockets.connect(server.wsUrl(lawToken));
  assertAck(await client.request("message", { text: "I want to sue the shop" }));
  const reason = "Claim against the shop; needs a contract review";
  const ack = assertAck(
    await op.request("assign_lawyer", { chat_id: chat.chat_id, lawyer_id: "law-1", reason }),
  );
  const lawyerChat = ack.payload.chat_id as string;

  // The client learns of it live, with the reason and the lawyer's name.
  const told = await client.next(isFrame("lawyer_assigned", chat.chat_id));
  assert.equal(told.payload.lawyer_chat_id, lawyerChat);
  assert.equal(told.payload.reason, reason);
  assert.equal(told.payload.lawyer_name, "Ivan Petrov");
  // The lawyer's console gets the context on the new chat's first event.
  const created = await lawyer.next(isFrame("chat_created", lawyerChat));
  assert.deepEqual(
    [created.payload.kind, created.payload.linked_chat_id, created.payload.assigned_by],
    ["lawyer", chat.chat_id, "op-1"],
  );
  assert.equal(created.payload.reason, reason);
  const assigned = await lawyer.next(isFrame("chat_assigned", lawyerChat));
  assert.equal(assigned.payload.operator_name, "Ivan Petrov");

  // The lawyer reads the support conversation and its client, but writes nothing there.
  const history = await apiGet(server, `chats/${chat.chat_id}/history`, lawToken);
  assert.equal(history.status, 200);
  assert.ok(
    history.body.events.some((e: Json) => e.payload.message === "I want to sue the shop"),
  );
  const profile = await getOk(server, `chats/${chat.chat_id}/client`, lawToken);
  assert.equal(profile.client_id, "alice");
  assert.equal((await apiGet(server, `chats/${chat.chat_id}/transcript`, lawToken)).status, 200);
  assertError(await say(lawyer, chat.chat_id, "I am here too"), "forbidden");
  assertError(await lawyer.request("close_chat", { chat_id: chat.chat_id }), "forbidden");
  assertError(await lawyer.request("read", { chat_id: chat.chat_id, seq: 1 }), "forbidden");
  assert.equal(lawyer.frames.some((f) => f.payload.chat_id === chat.chat_id), false);
  // Another lawyer may not.
  const other = await server.staffToken("law-2", "lawyer");
  assert.equal((await apiGet(server, `chats/${chat.chat_id}/history`, other)).status, 403);
  assert.equal((await apiGet(server, `chats/${chat.chat_id}/client`, other)).status, 403);

  // The widget finds the lawyer chat with its visitor token, opens it and talks.
  const mine = await getOk(server, "me/chats", chat.visitor_token);
  const row = mine.find((c: Json) => c.chat_id === lawyerChat);
  assert.deepEqual([row.kind, row.linked_chat_id, row.operator_id], [
    "lawyer",
    chat.chat_id,
    "law-1",
  ]);
  const lawClient = await sockets.connect(server.wsUrl(row.client_token));
  const hello = assertAck(await lawClient.request("message", { text: "Hello, lawyer" }));
  await lawyer.next((f) => f.type === "message" && f.payload.seq === hello.payload.seq);
  const events = await allEvents(server, lawyerChat, row.client_token);
  assert.equal(events[0].payload.reason, reason);

  // Admins give a reason over REST too.
  const admin = await server.staffToken("adm", "admin");
  const res = await fetch(`${server.url}/api/v1/chat/admin/assign-lawyer`, {
    method: "POST",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: JSON.stringify({ chat_id: chat.chat_id, lawyer_id: "law-2", reason: "Second opinion" }),
  });
  assert.equal(res.status, 200);
  const second = (await res.json()).lawyer_chat_id;
  const first = (await allEvents(server, second, admin))[0];
  assert.deepEqual([first.payload.reason, first.payload.assigned_by], ["Second opinion", "adm"]);
  // A reason over 500 characters is refused.
  assertError(
    await op.request("assign_lawyer", {
      chat_id: chat.chat_id,
      lawyer_id: "law-1",
      reason: "r".repeat(501),
    }),
    "invalid_payload",
  );
});

Deno.test("chat_assigned and chat_transferred carry the operator's display name when known", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const anna = await sockets.connect(
    server.wsUrl(await server.staffToken("op-anna", "operator", "Anna")),
  );
  const boris = await sockets.connect(
    server.wsUrl(await server.staffToken("op-boris", "operator", "Boris")),
  );
  const nameless = await connectStaff(server, sockets, "op-3");
  const chat = await server.createChat("alice");
  const client = await sockets.connect(chat.ws_url);
  assertAck(await anna.request("accept_chat", { chat_id: chat.chat_id }));
  const assigned = await client.next(isFrame("chat_assigned", chat.chat_id));
  assert.equal(assigned.payload.operator_name, "Anna");
  assertAck(
    await anna.request("transfer_chat", {
      chat_id: chat.chat_id,
      target_operator_id: "op-boris",
      reason: "billing",
    }),
  );
  const moved = await client.next(isFrame("chat_transferred", chat.chat_id));
  assert.equal(moved.payload.operator_name, "Boris");
  // Without a name in the token there is none on the frame.
  assertAck(
    await boris.request("transfer_chat", {
      chat_id: chat.chat_id,
      target_operator_id: "op-3",
      reason: "night shift",
    }),
  );
  const third = await client.next((f) =>
    f.type === "chat_transferred" && f.payload.to_operator_id === "op-3"
  );
  assert.equal("operator_name" in third.payload, false);
  // Replays (history, resume) show the same names.
  const history = await allEvents(server, chat.chat_id, chat.client_token);
  const names = history.filter((e) => e.type === "chat_assigned" || e.type === "chat_transferred")
    .map((e) => e.payload.operator_name ?? null);
  assert.deepEqual(names, ["Anna", "Boris", null]);
  const again = await WsClient.connect(`${chat.ws_url}&last_seq=0`);
  try {
    await again.next((f) => f.type === "resumed");
    assert.equal(again.ofType("chat_assigned")[0].payload.operator_name, "Anna");
  } finally {
    await again.close();
  }
  assert.equal((await nameless.request("ping")).type, "pong");
});
