import assert from "node:assert/strict";
import { ManualClock } from "../../src/runtime/clock.ts";
import { startTestServer } from "./_harness.ts";
import {
  accept,
  ADMIN,
  assertAck,
  assertError,
  connectStaff,
  createChats,
  isFrame,
  isStatusOf,
  say,
  waitingIds,
} from "./_routing_util.ts";
import { allEvents, assignedChat, range, Sockets } from "./_util.ts";

Deno.test("manual mode: capacity and status decide who may accept; staff see status changes", async () => {
  await using server = await startTestServer({ DEFAULT_CAPACITY: "2" });
  await using sockets = new Sockets();
  const op1 = await connectStaff(server, sockets, "op-1");
  const op2 = await connectStaff(server, sockets, "op-2");
  const [c1, c2, c3] = await createChats(server, 3);

  assertAck(await accept(op1, c1.chat_id));
  assertAck(await accept(op1, c2.chat_id));
  assertError(await accept(op1, c3.chat_id), "at_capacity");
  // Closing one frees a slot at once (the release reaches the queue before the next claim).
  assertAck(await op1.request("close_chat", { chat_id: c1.chat_id }));

  let from = op2.frames.length;
  assertAck(await op1.request("set_status", { status: "away" }));
  await op2.next(isStatusOf("op-1", "away"), { from });
  assertError(await accept(op1, c3.chat_id), "operator_unavailable");
  // Away keeps the chats it has.
  assertAck(await say(op1, c2.chat_id, "still here"));

  from = op2.frames.length;
  assertAck(await op1.request("set_status", { status: "online" }));
  await op2.next(isStatusOf("op-1", "online"), { from });
  assertAck(await accept(op1, c3.chat_id));
  const [c4] = await createChats(server, 1, "late");
  assertError(await accept(op1, c4.chat_id), "at_capacity");
  assertAck(await accept(op2, c4.chat_id));
});

Deno.test("auto mode: offers go to the least loaded (ties: longest idle) and expire to the next", async () => {
  const clock = new ManualClock();
  await using server = await startTestServer({ ROUTING_MODE: "auto", ACCEPT_TIMEOUT_S: "30" }, {
    clock,
  });
  await using sockets = new Sockets();
  // op-z has been idle longer than op-a: it wins the tie although its id sorts last.
  const opZ = await connectStaff(server, sockets, "op-z");
  await clock.advance(1_000);
  const opA = await connectStaff(server, sockets, "op-a");

  const chat1 = await server.createChat("alice");
  const client1 = await sockets.connect(chat1.ws_url);
  const offer1 = await opZ.next(isFrame("chat_offered", chat1.chat_id));
  assert.equal(offer1.payload.expires_at, new Date(clock.now() + 30_000).toISOString());
  await clock.advance(29_000);
  assertError(await accept(opA, chat1.chat_id), "already_assigned");
  assertAck(await accept(opZ, chat1.chat_id));
  const assigned1 = await client1.next(isFrame("chat_assigned", chat1.chat_id));
  assert.equal(assigned1.payload.operator_id, "op-z");

  // op-a holds nothing, op-z one chat: the next chat goes to op-a.
  const chat2 = await server.createChat("bob");
  const client2 = await sockets.connect(chat2.ws_url);
  await opA.next(isFrame("chat_offered", chat2.chat_id));
  const fromZ = opZ.frames.length;
  await clock.advance(30_000);
  const expired = await opA.next(isFrame("chat_removed", chat2.chat_id));
  assert.equal(expired.payload.reason, "expired");
  // The expired operator is skipped: op-z gets it although it holds more.
  await opZ.next(isFrame("chat_offered", chat2.chat_id), { from: fromZ });
  assertError(await accept(opA, chat2.chat_id), "already_assigned");
  assertAck(await accept(opZ, chat2.chat_id));
  const assigned2 = await client2.next(isFrame("chat_assigned", chat2.chat_id));
  assert.equal(assigned2.payload.operator_id, "op-z");
  assert.equal(opA.ofType("chat_offered").length, 1);
  assert.equal(opZ.ofType("chat_offered").length, 2);
});

Deno.test("queue_position: waiting clients learn their place, the estimate and priority moves", async () => {
  const clock = new ManualClock();
  await using server = await startTestServer({}, { clock });
  await using sockets = new Sockets();
  const tick = () => clock.advance(1_000);
  const chats = await createChats(server, 4, "client", tick);
  const clients = await Promise.all(chats.map((c) => sockets.connect(c.ws_url)));
  const pos = (i: number, position: number) =>
    clients[i].next((f) => f.type === "queue_position" && f.payload.position === position);
  // Each waiting client learns its place as soon as it connects.
  await Promise.all([pos(0, 1), pos(1, 2), pos(2, 3), pos(3, 4)]);
  const op = await connectStaff(server, sockets, "op-1");

  // An admin raises the last chat's priority: it moves to the front and everyone is told
  // (positions go out at most once per QUEUE_POSITION_MS: the clock moves past it each time).
  await server.routing.setPriority(ADMIN, chats[3].chat_id, 5);
  await tick();
  const moved = await Promise.all([pos(3, 1), pos(0, 2), pos(1, 3), pos(2, 4)]);
  for (const f of moved) assert.equal(f.payload.estimated_wait_s, null);
  const snap = await server.svc.queueSnapshot();
  assert.deepEqual(waitingIds(snap), [3, 0, 1, 2].map((i) => chats[i].chat_id));

  // The first chat taken: the others move up; one claim gives no service rate yet.
  assertAck(await accept(op, chats[3].chat_id));
  await tick();
  const up = await Promise.all([pos(0, 1), pos(1, 2), pos(2, 3)]);
  for (const f of up) assert.equal(f.payload.estimated_wait_s, null);

  // A second claim 10 s after the first (the tick above was 1 s of it): 0.1 chats per second,
  // so position n waits about 10·n s.
  await clock.advance(9_000);
  assertAck(await accept(op, chats[0].chat_id));
  await tick();
  const [p1, p2] = await Promise.all([pos(1, 1), pos(2, 2)]);
  assert.equal(p1.payload.estimated_wait_s, 10);
  assert.equal(p2.payload.estimated_wait_s, 20);
  // The client whose chat was taken got no position after the claim (its chat_assigned follows):
  // 1 on connect, 2 after the priority change, 1 after the first claim.
  await clients[0].next(isFrame("chat_assigned"));
  const positions = clients[0].ofType("queue_position").map((f) => f.payload.position);
  assert.deepEqual(positions, [1, 2, 1]);
});

Deno.test("transfers: to a colleague with full history, refusals are coded, to the queue goes first", async () => {
  await using server = await startTestServer({ DEFAULT_CAPACITY: "2" });
  await using sockets = new Sockets();
  const older = await server.createChat("older");
  const { chat, client, op: op1 } = await assignedChat(server, sockets, "op-1", "alice");
  assertAck(await client.request("message", { text: "my bill is wrong" }));
  assertAck(await say(op1, chat.chat_id, "let me check"));

  const op2 = await connectStaff(server, sockets, "op-2");
  const away = await connectStaff(server, sockets, "op-away");
  assertAck(await away.request("set_status", { status: "offline" }));
  const full = await connectStaff(server, sockets, "op-full");
  for (const c of await createChats(server, 2, "filler")) assertAck(await accept(full, c.chat_id));

  const transfer = (who: typeof op1, target: string) =>
    who.request("transfer_chat", {
      chat_id: chat.chat_id,
      target_operator_id: target,
      reason: "Billing question",
    });
  assertError(await transfer(op1, "op-away"), "operator_unavailable");
  assertError(await transfer(op1, "op-nobody"), "operator_unavailable");
  assertError(await transfer(op1, "op-full"), "at_capacity");
  assertError(await transfer(op2, "op-2"), "forbidden");

  const fromOld = op1.frames.length;
  assertAck(await transfer(op1, "op-2"));
  const seen = await op1.next(isFrame("chat_transferred", chat.chat_id), { from: fromOld });
  assert.equal(seen.payload.to_operator_id, "op-2");
  assert.equal(seen.payload.reason, "Billing question");
  const moved = await op2.next(isFrame("chat_transferred", chat.chat_id));
  const last = moved.payload.seq as number;
  assert.deepEqual(op2.seqs(chat.chat_id), range(1, last), "the new operator gets every event");
  assertError(await say(op1, chat.chat_id, "me again"), "forbidden");
  const ack = assertAck(await say(op2, chat.chat_id, "billing here"));
  await client.next((f) => f.type === "message" && f.payload.seq === ack.payload.seq);

  // Back to the queue: ahead of the older waiting chat.
  assertAck(
    await op2.request("transfer_chat", { chat_id: chat.chat_id, to_queue: true, reason: "later" }),
  );
  const back = await client.next((f) =>
    f.type === "chat_transferred" && f.payload.to_queue === true
  );
  assert.equal(back.payload.from_operator_id, "op-2");
  assertError(await say(op2, chat.chat_id, "gone?"), "forbidden");
  const viewer = await connectStaff(server, sockets, "op-viewer");
  const snapshot = await viewer.next(isFrame("queue_snapshot"));
  const order = (snapshot.payload.chats as Array<{ chat_id: string }>).map((c) => c.chat_id);
  assert.deepEqual(order, [chat.chat_id, older.chat_id]);

  const events = await allEvents(server, chat.chat_id, chat.client_token);
  const transfers = events.filter(isFrame("chat_transferred")).map((e) => e.payload);
  assert.deepEqual(
    transfers.map((t) => [t.from_operator_id, t.to_operator_id, t.to_queue, t.reason, t.by]),
    [["op-1", "op-2", false, "Billing question", "op-1"], [
      "op-2",
      undefined,
      true,
      "later",
      "op-2",
    ]],
  );
});
