import assert from "node:assert/strict";
import { operatorEntity, type OperatorView } from "../../actors/operator.ts";
import type { QueueSnapshot } from "../../actors/queue.ts";
import { type Frame, startTestServer, type TestServer, type WsClient } from "./_harness.ts";
import {
  accept,
  activeOf,
  assertAck,
  assertError,
  connectStaff,
  isFrame,
  say,
  until,
  untilQueue,
  waitingIds,
} from "./_routing_util.ts";
import { allEvents, assignedChat, range, Sockets } from "./_util.ts";

/** Accepts every `chat_offered` at once; tracks replies and the most chats held at any time. */
class AutoAccepter {
  readonly pending: Promise<Frame>[] = [];
  /** Chats whose `chat_assigned` (to this operator) arrived and were not transferred away. */
  readonly held = new Set<string>();
  readonly everHeld = new Set<string>();
  maxHeld = 0;
  constructor(readonly id: string, readonly op: WsClient, onOffer?: (n: number) => void) {
    op.ws.addEventListener("message", (e) => {
      const f = JSON.parse(e.data as string) as Frame;
      const chatId = f.payload.chat_id as string;
      if (f.type === "chat_offered") {
        this.pending.push(accept(op, chatId));
        onOffer?.(this.pending.length);
      } else if (f.type === "chat_assigned" && f.payload.operator_id === id) {
        this.held.add(chatId);
        this.everHeld.add(chatId);
      } else if (f.type === "chat_transferred" && f.payload.from_operator_id === id) {
        this.held.delete(chatId);
      }
      this.maxHeld = Math.max(this.maxHeld, this.held.size);
    });
  }
  /** Every reply to this operator's accepts so far. */
  replies(): Promise<Frame[]> {
    return Promise.all(this.pending);
  }
}

/** Every chat is exactly once in the queue: waiting or active. */
function assertAccounted(snap: QueueSnapshot, chatIds: string[]): void {
  const seen = [...waitingIds(snap), ...Object.keys(snap.active)];
  assert.equal(seen.length, new Set(seen).size, "a chat is in the queue twice");
  assert.deepEqual(seen.sort(), [...chatIds].sort(), "a chat was lost or invented");
}

async function createMany(server: TestServer, n: number, prefix: string): Promise<string[]> {
  const chats = await Promise.all(range(1, n).map((i) => server.createChat(`${prefix}-${i}`)));
  return chats.map((c) => c.chat_id);
}

Deno.test("auto mode: 200 chats at once to 20 operators of capacity 3 never overrun a capacity", async () => {
  await using server = await startTestServer({ ROUTING_MODE: "auto", DEFAULT_CAPACITY: "3" });
  await using sockets = new Sockets();
  const ids = range(1, 20).map((i) => `op-${i}`);
  const ops = await Promise.all(ids.map((id) => connectStaff(server, sockets, id)));
  const accepters = ops.map((op, i) => new AutoAccepter(ids[i], op));

  const chatIds = await createMany(server, 200, "client");
  const snap = await untilQueue(
    server,
    (s) => Object.keys(s.active).length === 60 && s.waiting.every((w) => w.offer === null),
    "60 chats are taken and no offer is open",
  );
  assert.equal(snap.waiting.length, 140);
  assertAccounted(snap, chatIds);
  for (const [i, a] of accepters.entries()) {
    assert.equal(activeOf(snap, a.id).length, 3, `${a.id} holds 3`);
    assert.equal(snap.operators[a.id].load, 3);
    // Each operator's chats reached it: wait for the last chat_assigned, then count.
    for (const chatId of activeOf(snap, a.id)) {
      await ops[i].next(isFrame("chat_assigned", chatId));
    }
    const replies = await a.replies();
    assert.equal(replies.length, 3, `${a.id} got ${replies.length} offers`);
    for (const r of replies) assertAck(r);
    assert.ok(a.maxHeld <= 3, `${a.id} held ${a.maxHeld} chats at once`);
    assert.equal(a.held.size, 3);
  }
  const admin = await server.staffToken("adm", "admin");
  await Promise.all(
    Object.entries(snap.active).map(async ([chatId, a]) => {
      const assigned = (await allEvents(server, chatId, admin)).filter(isFrame("chat_assigned"));
      assert.deepEqual(assigned.map((e) => e.payload.operator_id), [a.operatorId]);
    }),
  );
  for (const chatId of waitingIds(snap)) {
    assert.equal((await server.svc.peek(chatId)).status, "queued");
  }
});

Deno.test("an operator going offline while chats are offered and assigned to them keeps none", async () => {
  await using server = await startTestServer({ ROUTING_MODE: "auto", DEFAULT_CAPACITY: "5" });
  await using sockets = new Sockets();
  const x = await connectStaff(server, sockets, "op-x");
  const y = await connectStaff(server, sockets, "op-y");
  let offline: Promise<Frame> | null = null;
  // op-x goes offline right after accepting its second offer, while more chats arrive.
  const ax = new AutoAccepter("op-x", x, (n) => {
    if (n === 2) offline ??= x.request("set_status", { status: "offline" });
  });
  const ay = new AutoAccepter("op-y", y);

  const chatIds = await createMany(server, 12, "client");
  const snap = await untilQueue(
    server,
    (s) =>
      offline !== null && s.operators["op-x"].status === "offline" &&
      s.waiting.every((w) => w.offer === null) && activeOf(s, "op-y").length === 5,
    "op-x is offline, op-y full and no offer open",
  );
  assertAck(await offline!);
  assertAccounted(snap, chatIds);
  assert.deepEqual(activeOf(snap, "op-x"), []);
  assert.equal(snap.operators["op-x"].load, 0);
  assert.equal(snap.operators["op-y"].load, 5);
  assert.equal(snap.waiting.length, 7);
  for (const r of [...await ax.replies(), ...await ay.replies()]) {
    if (r.type === "ack") continue;
    assert.match(
      String(r.payload.code),
      /^(operator_unavailable|not_in_queue|already_assigned|invalid_state)$/,
    );
  }
  assert.ok(ax.everHeld.size >= 1);
  assert.ok(ay.maxHeld <= 5);
  // Every chat op-x held came back to the queue, and op-x may no longer write in it.
  for (const chatId of ax.everHeld) {
    const back = await x.next(isFrame("chat_transferred", chatId));
    assert.equal(back.payload.to_queue, true);
    assert.equal(back.payload.from_operator_id, "op-x");
    assertError(await say(x, chatId, "still mine?"), "forbidden");
  }
  // The sessions agree with the queue: owned by op-y, or waiting.
  await until(server, async () => {
    const views = await Promise.all(chatIds.map((id) => server.svc.peek(id)));
    return views.every((v) =>
      v.operatorId === (snap.active[v.chatId]?.operatorId ?? null) &&
      v.status === (v.chatId in snap.active ? "assigned" : "queued")
    );
  }, "every session agrees with the queue");
});

Deno.test("a transfer racing a close ends closed, owned by nobody, counted by no one", async () => {
  // op-1 opens one socket per round: 16 connections of one user.
  await using server = await startTestServer({
    DEFAULT_CAPACITY: "50",
    MAX_CONNECTIONS_PER_TOKEN: "20",
  });
  await using sockets = new Sockets();
  const op2 = await connectStaff(server, sockets, "op-2");
  const admin = await connectStaff(server, sockets, "adm", "admin");
  const rounds = range(1, 16);
  const results = await Promise.all(rounds.map(async (i) => {
    const { chat, client, op } = await assignedChat(server, sockets, "op-1", `client-${i}`);
    const transfer = () =>
      op.request("transfer_chat", {
        chat_id: chat.chat_id,
        ...(i % 2 ? { target_operator_id: "op-2" } : { to_queue: true }),
        reason: "race",
      });
    // The client or an admin closes (an operator's own close may lose to its transfer).
    const closer = i % 4 < 2 ? client : admin;
    const close = () => closer.request("close_chat", { chat_id: chat.chat_id, reason: "done" });
    if (i <= 8) return { chatId: chat.chat_id, replies: await Promise.all([transfer(), close()]) };
    // The close just ahead: its release reaches the queue before the transfer does.
    const closed = close();
    const late = closed.then(transfer);
    return { chatId: chat.chat_id, replies: await Promise.all([late, closed]) };
  }));
  const chatIds = results.map((r) => r.chatId);
  const snap = await untilQueue(
    server,
    (s) => chatIds.every((id) => !(id in s.active) && !waitingIds(s).includes(id)),
    "every raced chat left the queue",
  );
  for (const { chatId, replies } of results) {
    for (const r of replies) {
      assert.ok(r.type === "ack" || typeof r.payload.code === "string", JSON.stringify(r));
    }
    assert.equal(replies[1].type, "ack", "a participant's close is never refused");
    assert.equal((await server.svc.peek(chatId)).status, "closed");
  }
  assert.equal(snap.operators["op-1"].load, 0);
  assert.equal(snap.operators["op-2"].load, 0);
  for (const { replies } of results.slice(8)) assertError(replies[0], "invalid_state");
  // Neither operator's own list of open chats (followed on reconnect) keeps a raced chat.
  await until(server, async () => {
    const lists = await Promise.all(
      ["op-1", "op-2"].map((id) => server.svc.system.ask(operatorEntity, id, { type: "get" })),
    );
    return lists.every((s) => (s as OperatorView).openChats.length === 0);
  }, "no operator lists a raced chat as open");
  assert.equal(op2.ofType("error").length, 0);
});
