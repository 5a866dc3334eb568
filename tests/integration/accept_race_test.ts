import assert from "node:assert/strict";
import { type Frame, startTestServer } from "./_harness.ts";
import { allEvents, range, Sockets, untilQueueView } from "./_util.ts";

const forChat = (type: string, chatId: string) => (f: Frame) =>
  f.type === type && f.payload.chat_id === chatId;

Deno.test("50 operators accepting one chat at the same instant: exactly one wins, 49 get already_assigned", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const ids = range(1, 50).map((i) => `op-${i}`);
  const ops = await Promise.all(
    ids.map(async (id) => sockets.connect(server.wsUrl(await server.staffToken(id)))),
  );
  const chat = await server.createChat("alice");
  const client = await sockets.connect(chat.ws_url);
  await Promise.all(ops.map((op) => op.next(forChat("new_chat_available", chat.chat_id))));

  // Send every accept before awaiting any reply.
  const pending = ops.map((op) => op.request("accept_chat", { chat_id: chat.chat_id }));
  const replies = await Promise.all(pending);

  const winners = replies.flatMap((r, i) => (r.type === "ack" ? [i] : []));
  assert.equal(winners.length, 1, `acks: ${winners.length}`);
  const losers = replies.filter((r) => r.type === "error");
  assert.equal(losers.length, 49);
  for (const e of losers) assert.equal(e.payload.code, "already_assigned");
  const winner = ids[winners[0]];
  assert.equal(replies[winners[0]].payload.chat_id, chat.chat_id);

  // Every operator connection learns that the chat left the queue, to the winner.
  const removed = await Promise.all(
    ops.map((op) => op.next(forChat("chat_removed", chat.chat_id))),
  );
  for (const r of removed) {
    assert.equal(r.payload.reason, "assigned");
    assert.equal(r.payload.operator_id, winner);
  }

  // The winner can talk; once its message reached the client, no other assignment can follow it
  // (events arrive in seq order), so the client's single chat_assigned is the only one.
  const assigned = await client.next(forChat("chat_assigned", chat.chat_id));
  assert.equal(assigned.payload.operator_id, winner);
  const sent = await ops[winners[0]].request("message", { chat_id: chat.chat_id, text: "hi" });
  assert.equal(sent.type, "ack");
  await client.next((f) => f.type === "message" && f.payload.seq === sent.payload.seq);
  assert.equal(client.ofType("chat_assigned").length, 1);

  // A loser is not the owner: it may not write.
  const loserIndex = winners[0] === 0 ? 1 : 0;
  const denied = await ops[loserIndex].request("message", { chat_id: chat.chat_id, text: "me?" });
  assert.equal(denied.type, "error");
  assert.equal(denied.payload.code, "forbidden");

  const events = await allEvents(server, chat.chat_id, chat.client_token);
  const assignments = events.filter((e) => e.type === "chat_assigned");
  assert.equal(assignments.length, 1);
  assert.equal(assignments[0].payload.operator_id, winner);
});

Deno.test("20 chats accepted by 10 operators at once: every chat ends with exactly one owner", async () => {
  await using server = await startTestServer({ DEFAULT_CAPACITY: "100" });
  await using sockets = new Sockets();
  const ids = range(1, 10).map((i) => `op-${i}`);
  // These operators take queue deltas: 20 chats at once are one or two views, not 20 frames.
  const ops = await Promise.all(ids.map(async (id) => {
    const url = server.wsUrl(await server.staffToken(id), { features: "queue_delta" });
    return sockets.connect(url);
  }));
  const chats = await Promise.all(range(1, 20).map((i) => server.createChat(`client-${i}`)));
  await Promise.all(
    ops.map((op) => untilQueueView(op, (v) => chats.every((c) => v.ids.includes(c.chat_id)))),
  );

  // 200 accepts in flight together: every operator tries every chat.
  const pending = ops.map((op) =>
    chats.map((c) => op.request("accept_chat", { chat_id: c.chat_id }))
  );
  const replies = await Promise.all(pending.map((p) => Promise.all(p)));

  const owners = new Map<string, string>();
  chats.forEach((c, ci) => {
    const acked = ids.filter((_, oi) => replies[oi][ci].type === "ack");
    assert.equal(acked.length, 1, `chat ${ci + 1} has ${acked.length} acks`);
    owners.set(c.chat_id, acked[0]);
    for (let oi = 0; oi < ids.length; oi++) {
      const r = replies[oi][ci];
      if (r.type === "error") assert.equal(r.payload.code, "already_assigned");
    }
  });

  const admin = await server.staffToken("admin-1", "admin");
  for (const c of chats) {
    const owner = owners.get(c.chat_id)!;
    // The owner's connections follow the chat from its assignment on.
    const assigned = await ops[ids.indexOf(owner)].next(forChat("chat_assigned", c.chat_id));
    assert.equal(assigned.payload.operator_id, owner);
    const events = await allEvents(server, c.chat_id, admin);
    const assignments = events.filter((e) => e.type === "chat_assigned");
    assert.equal(assignments.length, 1);
    assert.equal(assignments[0].payload.operator_id, owner);
  }
  // Every operator's view dropped every chat, naming its single owner.
  for (const op of ops) {
    const view = await untilQueueView(op, (v) => v.total === 0 && v.ids.length === 0);
    for (const c of chats) {
      assert.deepEqual(view.removed.get(c.chat_id), {
        chat_id: c.chat_id,
        reason: "assigned",
        operator_id: owners.get(c.chat_id),
      });
    }
  }
});
