import assert from "node:assert/strict";
import { ManualClock } from "../../src/runtime/clock.ts";
import { type CreatedChat, startTestServer, type TestServer } from "./_harness.ts";
import {
  accept,
  activeOf,
  assertAck,
  assertError,
  connectStaff,
  isFrame,
  openStaff,
  say,
  waitingIds,
} from "./_routing_util.ts";
import { nextCommit, Sockets } from "./_util.ts";

const QUEUE_ID = "default";

/** Closes the operator's only socket and waits until the queue has started the grace period. */
async function dropOperator(server: TestServer, op: { close(): Promise<void> }): Promise<void> {
  const lost = nextCommit(server, "queue", QUEUE_ID, "operator_lost");
  await op.close();
  await lost;
}

Deno.test("presence lease: a reconnect within the grace keeps the chats; after it they go first in the queue", async () => {
  const clock = new ManualClock();
  await using server = await startTestServer({ PRESENCE_GRACE_S: "30" }, { clock });
  await using sockets = new Sockets();
  const create = async (id: string) => {
    await clock.advance(1_000);
    return await server.createChat(id);
  };
  const older = await create("older"); // waits the longest, but was never taken
  const mine: CreatedChat[] = [await create("alice"), await create("bob")];
  const newer = await create("newer");
  const clients = await Promise.all(mine.map((c) => sockets.connect(c.ws_url)));
  const opToken = await server.staffToken("op-1");
  const op = await openStaff(sockets, server.wsUrl(opToken));
  for (const c of mine) assertAck(await accept(op, c.chat_id));
  await Promise.all(clients.map((cl) => cl.next(isFrame("chat_assigned"))));

  // Lost for 20 s, then back: still the owner, the grace timer finds nothing to do.
  await dropOperator(server, op);
  await clock.advance(20_000);
  const back = await openStaff(sockets, server.wsUrl(opToken));
  for (const c of mine) assertAck(await say(back, c.chat_id, "sorry, I was away"));
  // The new connection follows the chats live.
  const live = assertAck(await clients[1].request("message", { text: "no problem" }));
  await back.next((f) => f.type === "message" && f.payload.seq === live.payload.seq);
  await clock.advance(20_000);
  let snap = await server.svc.queueSnapshot();
  assert.deepEqual(activeOf(snap, "op-1").sort(), mine.map((c) => c.chat_id).sort());
  for (const c of mine) assertAck(await say(back, c.chat_id, "still yours"));

  // Lost again, and this time the 30 s pass.
  await dropOperator(server, back);
  const expired = nextCommit(server, "queue", QUEUE_ID, "operator_expired");
  await clock.advance(29_999);
  snap = await server.svc.queueSnapshot();
  assert.equal(activeOf(snap, "op-1").length, 2, "still owned 1 ms before the grace ends");
  await clock.advance(1);
  await expired;
  const moved = await Promise.all(
    clients.map((cl, i) =>
      cl.next((f) => isFrame("chat_transferred", mine[i].chat_id)(f) && f.payload.to_queue === true)
    ),
  );
  for (const f of moved) {
    assert.equal(f.payload.from_operator_id, "op-1");
    assert.equal(f.payload.by, "system", "an automatic transfer is by the system");
    assert.match(f.payload.reason as string, /offline after 30 s grace/);
  }
  // Waiting again, at the front: their clients are told their places.
  for (const [i, cl] of clients.entries()) {
    await cl.next((f) => f.type === "queue_position" && f.payload.position === i + 1);
  }

  // Another operator sees them at the front, ahead of an older and a newer waiting chat.
  const other = await connectStaff(server, sockets, "op-2");
  const seen = await other.next(isFrame("queue_snapshot"));
  const order = (seen.payload.chats as Array<{ chat_id: string }>).map((c) => c.chat_id);
  const expected = [...mine, older, newer].map((c) => c.chat_id);
  assert.deepEqual(order, expected);
  // They keep their original waiting time.
  const since = (seen.payload.chats as Array<{ waiting_since: string }>)[0].waiting_since;
  assert.equal(Date.parse(since), (await server.svc.peek(mine[0].chat_id)).queuedAt);

  // The old operator, back later, may not write in them any more.
  const late = await openStaff(sockets, server.wsUrl(opToken));
  for (const c of mine) assertError(await say(late, c.chat_id, "hello?"), "forbidden");
  snap = await server.svc.queueSnapshot();
  assert.deepEqual(waitingIds(snap), expected);
  assert.equal(snap.operators["op-1"].load, 0);
});

Deno.test("presence lease in auto mode: after the grace the chats are offered to another operator", async () => {
  const clock = new ManualClock();
  await using server = await startTestServer(
    { ROUTING_MODE: "auto", PRESENCE_GRACE_S: "30", ACCEPT_TIMEOUT_S: "60" },
    { clock },
  );
  await using sockets = new Sockets();
  const op1 = await connectStaff(server, sockets, "op-1");
  const chats = [await server.createChat("alice"), await server.createChat("bob")];
  const clients = await Promise.all(chats.map((c) => sockets.connect(c.ws_url)));
  for (const c of chats) {
    await op1.next(isFrame("chat_offered", c.chat_id));
    assertAck(await accept(op1, c.chat_id));
  }
  await Promise.all(clients.map((cl) => cl.next(isFrame("chat_assigned"))));
  const op2 = await connectStaff(server, sockets, "op-2");
  assert.equal(op2.ofType("chat_offered").length, 0);

  await dropOperator(server, op1);
  await clock.advance(30_000);
  for (const [i, c] of chats.entries()) {
    await op2.next(isFrame("chat_offered", c.chat_id));
    assertAck(await accept(op2, c.chat_id));
    const requeued = await clients[i].next(isFrame("chat_transferred", c.chat_id));
    assert.equal(requeued.payload.to_queue, true);
    const from = clients[i].frames.indexOf(requeued);
    const assigned = await clients[i].next(isFrame("chat_assigned", c.chat_id), { from });
    assert.equal(assigned.payload.operator_id, "op-2");
    assertAck(await say(op2, c.chat_id, "taking over"));
  }
  const snap = await server.svc.queueSnapshot();
  assert.equal(snap.operators["op-1"].status, "offline");
  assert.equal(snap.operators["op-1"].load, 0);
  assert.equal(activeOf(snap, "op-2").length, 2);
});
