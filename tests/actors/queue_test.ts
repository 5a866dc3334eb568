/** Queue actor, pure decide/evolve: claims, roster status and capacity, order, transfers. */
import assert from "node:assert/strict";
import { type QueueCommand, queueEntity, queuePosition, toSnapshot } from "../../actors/mod.ts";
import {
  admin,
  assertInvariants,
  assignTell,
  claim,
  deepFreeze,
  empty,
  enqueue,
  ids,
  loads,
  online,
  QUEUE_CALLER,
  rejected,
  requeueTell,
  self,
  send,
  status,
  T0,
  view,
  waiting,
} from "./_queue_helpers.ts";

const claimCmd = (chatId: string, operatorId: string): QueueCommand => ({
  type: "claim",
  chatId,
  operatorId,
});

// ---------------------------------------------------------------------------------------------
// enqueue and order

Deno.test("queue: enqueue replies the 1-based position; again is a no-op; taken re-sends assign", () => {
  const a = enqueue(empty(), "a");
  assert.deepEqual(a.events, [{
    type: "enqueued",
    chatId: "a",
    clientId: "client-of-a",
    priority: 0,
    enqueuedAt: T0,
  }]);
  assert.deepEqual(a.reply, { position: 1 });
  const b = enqueue(a.state, "b", 0, T0 + 1);
  assert.deepEqual(b.reply, { position: 2 });
  const again = enqueue(b.state, "b", 9, T0 + 99);
  assert.deepEqual([again.events, again.reply, again.state], [[], { position: 2 }, b.state]);
  const taken = claim(online(b.state, ["op1"]), "a", "op1").state;
  const lost = enqueue(taken, "a");
  assert.deepEqual(lost.events, []);
  assert.deepEqual(lost.reply, { position: 0 });
  // The reconcile carries the claim's decision (seq 4: two enqueues, a connect, the claim).
  assert.deepEqual(lost.effects, [assignTell("a", "op1", "reconcile", 4)]);
});

Deno.test("queue: order is priority first, then requeued before new, then FIFO by enqueuedAt", () => {
  let s = online(empty(), ["op1"]);
  s = enqueue(s, "old", 0, T0).state;
  s = enqueue(s, "new", 0, T0 + 20).state;
  s = enqueue(s, "urgent", 5, T0 + 30).state;
  s = enqueue(s, "back", 0, T0 + 10).state;
  s = claim(s, "back", "op1").state;
  s = send(s, { type: "transfer", chatId: "back", to: null, reason: "r", by: self("op1") }).state;
  s = enqueue(s, "older", 0, T0 - 10).state; // e.g. re-enqueued after a crash
  assert.deepEqual(ids(s), ["urgent", "back", "older", "old", "new"]);
  assert.equal(queuePosition(s, "old"), 4);
});

Deno.test("queue: set_priority only by an admin, and it re-orders the waiting list", () => {
  const s = waiting(empty(), ["a", "b", "c"]);
  const cmd: QueueCommand = { type: "set_priority", chatId: "c", priority: 2, by: self("op1") };
  assert.equal(rejected(s, cmd), "forbidden");
  assert.equal(rejected(s, { ...cmd, by: { id: "c1", role: "client" } }), "forbidden");
  assert.equal(rejected(s, { ...cmd, by: admin, chatId: "ghost" }), "not_found");
  assert.equal(rejected(s, { ...cmd, by: admin, priority: 1.5 }), "invalid_payload");
  const r = send(s, { ...cmd, by: admin }, T0 + 7);
  assert.deepEqual(r.events, [{
    type: "priority_changed",
    chatId: "c",
    priority: 2,
    byId: "adm",
    byRole: "admin",
    at: T0 + 7,
  }]);
  assert.deepEqual(ids(r.state), ["c", "a", "b"]);
  const down = send(r.state, { ...cmd, by: admin, chatId: "a", priority: -1 }).state;
  assert.deepEqual(ids(down), ["c", "b", "a"]);
});

// ---------------------------------------------------------------------------------------------
// claim

Deno.test("queue: claim needs an operator in the roster, online and connected", () => {
  let s = waiting(empty(), ["a"]);
  assert.equal(rejected(s, claimCmd("a", "stranger")), "operator_unavailable");
  s = online(s, ["op1", "op2", "op3"]);
  s = status(s, "op1", "away").state;
  s = status(s, "op2", "busy").state;
  s = send(s, { type: "operator_lost", operatorId: "op3" }).state;
  for (const op of ["op1", "op2", "op3"]) {
    assert.equal(rejected(s, claimCmd("a", op)), "operator_unavailable", op);
  }
  assert.equal(rejected(s, claimCmd("ghost", "op1")), "not_in_queue");
});

Deno.test("queue: claim takes a waiting chat, records the wait, counts load and tells the session", () => {
  const s = online(waiting(empty(), ["a", "b"]), ["op1"]);
  const r = claim(s, "a", "op1", T0 + 5_000);
  assert.deepEqual(r.events, [{
    type: "claimed",
    chatId: "a",
    operatorId: "op1",
    waitedMs: 5_000,
    at: T0 + 5_000,
    decision: 4,
  }]);
  // The decision is the claim's own seq (after two enqueues and a connect).
  assert.deepEqual(r.reply, { chatId: "a", operatorId: "op1", decision: 4 });
  assert.deepEqual(r.effects, [assignTell("a", "op1", "accepted", 4)]);
  assert.deepEqual(ids(r.state), ["b"]);
  assert.deepEqual(view(r.state).active.a, {
    operatorId: "op1",
    clientId: "client-of-a",
    assignedAt: T0 + 5_000,
    enqueuedAt: T0,
    priority: 0,
  });
  assert.equal(view(r.state).operators.op1.load, 1);
  assert.equal(view(r.state).operators.op1.idleSince, T0 + 5_000);
  assert.deepEqual([r.state.servedCount, view(r.state).recentWaits], [1, [5_000]]);
});

Deno.test("queue: load < capacity: default capacity from config, per-operator set_capacity", () => {
  let s = online(waiting(empty(), ["a", "b", "c", "d", "e", "f", "g"]), ["op1"]);
  for (const c of ["a", "b", "c", "d", "e"]) s = claim(s, c, "op1").state;
  assert.equal(view(s).operators.op1.load, 5);
  assert.equal(rejected(s, claimCmd("f", "op1")), "at_capacity");
  const up = send(s, { type: "set_capacity", operatorId: "op1", capacity: 6, by: admin });
  assert.deepEqual(up.events.map((e) => e.type), ["capacity_changed"]);
  s = claim(up.state, "f", "op1").state;
  assert.equal(rejected(s, claimCmd("g", "op1")), "at_capacity");
  const cmd: QueueCommand = { type: "set_capacity", operatorId: "op1", capacity: 1.5, by: admin };
  assert.equal(rejected(s, cmd), "invalid_payload");
  assert.equal(rejected(s, { ...cmd, capacity: -1 }), "invalid_payload");
  assert.equal(rejected(s, { ...cmd, capacity: 9, by: self("op1") }), "forbidden");
  // Back to the default (5): holding 6 the operator takes nothing more, but keeps what they have.
  s = send(s, { ...cmd, capacity: null }).state;
  assert.equal(view(s).operators.op1.capacity, null);
  assert.equal(rejected(s, claimCmd("g", "op1")), "at_capacity");
  assert.equal(Object.keys(view(s).active).length, 6);
});

Deno.test("queue: one owner per chat; the same operator again is an idempotent retry", () => {
  let s = online(waiting(empty(), ["a"]), ["op1", "op2"]);
  s = claim(s, "a", "op1").state;
  assert.equal(rejected(s, claimCmd("a", "op2")), "already_assigned");
  const again = claim(s, "a", "op1", T0 + 9_000);
  assert.deepEqual(again.events, []);
  // The retry carries the first claim's decision (seq 4), not a new one.
  assert.deepEqual(again.reply, { chatId: "a", operatorId: "op1", decision: 4 });
  assert.deepEqual(again.effects, [assignTell("a", "op1", "accepted", 4)]);
  assert.deepEqual(again.state, s);
});

Deno.test("queue: of 50 operators accepting the same chat at once exactly one wins", () => {
  const opIds = Array.from({ length: 50 }, (_, i) => `op${i}`);
  let s = online(waiting(empty(), ["a"]), opIds);
  const codes: string[] = [];
  for (const op of opIds) {
    const d = queueEntity.decide(s, claimCmd("a", op), { id: "default", now: T0, nextSeq: 1 });
    if (d.ok) s = d.events.reduce(queueEntity.evolve, s);
    codes.push(d.ok ? `won:${op}` : d.code);
  }
  assert.deepEqual(codes, ["won:op0", ...opIds.slice(1).map(() => "already_assigned")]);
  assertInvariants(s);
});

// ---------------------------------------------------------------------------------------------
// status

Deno.test("queue: set_status by the operator themselves or an admin; others are forbidden", () => {
  const s = online(empty(), ["op1", "op2"]);
  const cmd: QueueCommand = {
    type: "set_status",
    operatorId: "op1",
    status: "away",
    by: self("op2"),
  };
  assert.equal(rejected(s, cmd), "forbidden");
  assert.equal(rejected(s, { ...cmd, by: { id: "law", role: "lawyer" } }), "forbidden");
  const mine = status(s, "op1", "away", self("op1"), T0 + 3);
  assert.deepEqual(mine.events, [{
    type: "status_changed",
    operatorId: "op1",
    status: "away",
    byId: "op1",
    byRole: "operator",
    at: T0 + 3,
  }]);
  assert.equal(view(status(s, "op1", "busy", admin).state).operators.op1.status, "busy");
  // The same status again stores nothing.
  assert.deepEqual(status(mine.state, "op1", "away").events, []);
});

Deno.test("queue: away and busy operators keep their chats", () => {
  let s = online(waiting(empty(), ["a", "b"]), ["op1", "op2"]);
  s = claim(claim(s, "a", "op1").state, "b", "op2").state;
  s = status(s, "op1", "away").state;
  s = status(s, "op2", "busy", admin).state;
  assert.deepEqual(Object.keys(view(s).active), ["a", "b"]);
  assert.deepEqual(loads(s), { op1: 1, op2: 1 });
});

Deno.test("queue: offline requeues every chat of the operator to the front, keeping enqueuedAt", () => {
  let s = online(waiting(empty(), ["a", "b", "c", "d"], T0), ["op1", "op2"]);
  s = claim(s, "c", "op1").state;
  s = claim(s, "a", "op1").state;
  s = claim(s, "b", "op2").state;
  const r = status(s, "op1", "offline", self("op1"), T0 + 60_000);
  const reason = "requeued: operator went offline";
  const requeued = (chatId: string, decision: number) => ({
    type: "requeued",
    chatId,
    from: "op1",
    reason,
    byId: "op1",
    byRole: "operator",
    at: T0 + 60_000,
    decision,
  });
  // Seqs: 4 enqueues, 2 connects, 3 claims, then status_changed (10) and the requeues.
  assert.deepEqual(r.events.slice(1), [requeued("c", 11), requeued("a", 12)]);
  assert.deepEqual(r.effects, [
    // Going offline ends any running presence lease of the operator.
    { kind: "cancel_timer", key: "grace:op1" },
    requeueTell("c", "op1", reason, self("op1"), 11),
    requeueTell("a", "op1", reason, self("op1"), 12),
  ]);
  assert.deepEqual(ids(r.state), ["a", "c", "d"]);
  assert.deepEqual(view(r.state).waiting.map((w) => [w.enqueuedAt, w.requeued]), [
    [T0, true],
    [T0 + 2, true],
    [T0 + 3, false],
  ]);
  assert.deepEqual(Object.keys(view(r.state).active), ["b"]);
  assert.deepEqual(loads(r.state), { op1: 0, op2: 1 });
  assert.equal(rejected(r.state, claimCmd("d", "op1")), "operator_unavailable");
});

// ---------------------------------------------------------------------------------------------
// transfer

function twoChats() {
  let s = online(waiting(empty(), ["a", "b"]), ["op1", "op2", "op3"]);
  s = claim(s, "a", "op1").state;
  return claim(s, "b", "op3").state;
}

Deno.test("queue: transfer only by the owner or an admin, only of an assigned chat", () => {
  const s = twoChats();
  const cmd: QueueCommand = {
    type: "transfer",
    chatId: "a",
    to: "op2",
    reason: "r",
    by: self("op2"),
  };
  assert.equal(rejected(s, cmd), "forbidden");
  assert.equal(rejected(s, { ...cmd, by: { id: "c1", role: "client" } }), "forbidden");
  assert.equal(rejected(waiting(s, ["w"]), { ...cmd, chatId: "w", by: admin }), "invalid_state");
  assert.equal(rejected(s, { ...cmd, by: self("op1"), to: "op1" }), "invalid_state");
  assert.ok(send(s, { ...cmd, by: self("op1") }).events.length === 1);
  assert.ok(send(s, { ...cmd, by: admin }).events.length === 1);
});

Deno.test("queue: transfer to a named operator needs them online, connected and with room", () => {
  let s = twoChats();
  const cmd: QueueCommand = { type: "transfer", chatId: "a", to: "op2", reason: "r", by: admin };
  assert.equal(rejected(s, { ...cmd, to: "stranger" }), "operator_unavailable");
  assert.equal(rejected(status(s, "op2", "away").state, cmd), "operator_unavailable");
  const lost = send(s, { type: "operator_lost", operatorId: "op2" }).state;
  assert.equal(rejected(lost, cmd), "operator_unavailable");
  s = send(s, { type: "set_capacity", operatorId: "op3", capacity: 1, by: admin }).state;
  assert.equal(rejected(s, { ...cmd, to: "op3" }), "at_capacity");
});

Deno.test("queue: transfer moves the chat, its load, and tells the session", () => {
  const r = send(twoChats(), {
    type: "transfer",
    chatId: "a",
    to: "op2",
    reason: "needs billing",
    by: self("op1"),
  }, T0 + 9_000);
  assert.deepEqual(r.events, [{
    type: "transferred",
    chatId: "a",
    from: "op1",
    to: "op2",
    reason: "needs billing",
    at: T0 + 9_000,
    byId: "op1",
    byRole: "operator",
    decision: 8,
  }]);
  // Seq 8: two enqueues, three connects, two claims, then this transfer.
  assert.deepEqual(r.effects, [{
    kind: "tell",
    to: { type: "session", id: "a" },
    command: {
      type: "transfer",
      by: QUEUE_CALLER,
      from: "op1",
      to: "op2",
      reason: "needs billing",
      actor: self("op1"),
      decision: 8,
    },
  }]);
  assert.deepEqual(r.reply, { chatId: "a", to: "op2" });
  assert.equal(view(r.state).active.a.operatorId, "op2");
  assert.equal(view(r.state).active.a.assignedAt, T0 + 9_000);
  assert.equal(view(r.state).active.a.enqueuedAt, T0);
  assert.deepEqual(loads(r.state), { op1: 0, op2: 1, op3: 1 });
});

Deno.test("queue: transfer to the queue (to: null) requeues at the front", () => {
  const s = waiting(twoChats(), ["later"], T0 + 100);
  const r = send(s, { type: "transfer", chatId: "a", to: null, reason: "wrong dept", by: admin });
  assert.deepEqual(r.events, [{
    type: "requeued",
    chatId: "a",
    from: "op1",
    reason: "wrong dept",
    byId: "adm",
    byRole: "admin",
    at: T0,
    decision: 9,
  }]);
  assert.deepEqual(r.effects, [requeueTell("a", "op1", "wrong dept", admin, 9)]);
  assert.deepEqual(r.reply, { chatId: "a", to: null });
  assert.deepEqual(ids(r.state), ["a", "later"]);
  assert.deepEqual(view(r.state).waiting[0].declined, ["op1"]);
  assert.equal(view(r.state).operators.op1.load, 0);
});

// ---------------------------------------------------------------------------------------------
// release, snapshot, purity

Deno.test("queue: release drops a waiting or a taken chat; an unknown one is a no-op", () => {
  let s = claim(online(waiting(empty(), ["a", "b"]), ["op1"]), "a", "op1").state;
  const r1 = send(s, { type: "release", chatId: "a", reason: "closed" });
  assert.deepEqual(r1.events, [{
    type: "released",
    chatId: "a",
    reason: "closed",
    from: "active",
  }]);
  assert.equal(view(r1.state).operators.op1.load, 0);
  s = send(r1.state, { type: "release", chatId: "b", reason: "closed" }).state;
  assert.deepEqual([view(s).waiting, view(s).active], [[], {}]);
  for (const chatId of ["ghost", "constructor"]) {
    const r = send(s, { type: "release", chatId, reason: "x" });
    assert.deepEqual([r.events, r.reply, r.state], [[], { released: false }, s]);
  }
});

Deno.test("queue: snapshot and activeFor report without storing anything", () => {
  let s = claim(online(waiting(empty(), ["a", "b", "c"]), ["op1"]), "a", "op1").state;
  s = claim(s, "c", "op1").state;
  const snap = send(s, { type: "snapshot" });
  assert.deepEqual(snap.events, []);
  assert.deepEqual(snap.reply.waiting.map((w) => w.chatId), ["b"]);
  assert.deepEqual(Object.keys(snap.reply.active), ["a", "c"]);
  assert.equal(snap.reply.operators.op1.load, 2);
  assert.deepEqual(send(s, { type: "activeFor", operatorId: "op1" }).reply, ["a", "c"]);
  assert.deepEqual(send(s, { type: "activeFor", operatorId: "nobody" }).reply, []);
});

Deno.test("queue: state survives a snapshot; decide and evolve never mutate their input", () => {
  const s = twoChats();
  // The snapshot codec: JSON out, the same queue back (every index rebuilt).
  const back = queueEntity.fromSnapshot!(JSON.parse(JSON.stringify(toSnapshot(s))), "default");
  assert.deepEqual(toSnapshot(back), toSnapshot(s));
  assertInvariants(back, "after a snapshot round trip");
  const before = JSON.stringify(toSnapshot(s));
  const frozen = deepFreeze(s);
  const cmds: QueueCommand[] = [
    { type: "enqueue", chatId: "c", clientId: "x", priority: 3, enqueuedAt: T0 },
    claimCmd("a", "op1"),
    { type: "release", chatId: "a", reason: "closed" },
    { type: "transfer", chatId: "a", to: "op2", reason: "r", by: admin },
    { type: "transfer", chatId: "a", to: null, reason: "r", by: admin },
    { type: "set_status", operatorId: "op1", status: "offline", by: admin },
    { type: "set_priority", chatId: "b", priority: 4, by: admin },
    { type: "operator_lost", operatorId: "op2" },
    { type: "snapshot" },
    { type: "page", offset: 0, limit: 10, activeLimit: 10 },
    { type: "stats" },
  ];
  for (const cmd of cmds) {
    const d = queueEntity.decide(frozen, cmd, { id: "default", now: T0 + 1, nextSeq: 1 });
    assert.ok(d.ok, cmd.type);
    d.events.reduce(queueEntity.evolve, frozen);
  }
  assert.equal(JSON.stringify(toSnapshot(frozen)), before);
});

Deno.test("queue: ids named like Object.prototype members are ordinary operators and chats", () => {
  let s = online(waiting(empty(), ["constructor", "toString"], T0), ["toString", "hasOwnProperty"]);
  assert.equal(view(s).operators["toString" as string].status, "online");
  s = claim(s, "constructor", "toString").state;
  s = claim(s, "toString", "hasOwnProperty").state;
  assert.deepEqual(Object.keys(view(s).active).sort(), ["constructor", "toString"]);
  assert.deepEqual(loads(s), { hasOwnProperty: 1, toString: 1 });
});

Deno.test("queue: a client whose id equals the owner's cannot transfer or set the owner's status", () => {
  let s = online(waiting(empty(), ["a"], T0), ["op1", "op2"]);
  s = claim(s, "a", "op1").state;
  const asClient = { id: "op1", role: "client" } as const;
  assert.equal(
    rejected(s, { type: "transfer", chatId: "a", to: "op2", reason: "x", by: asClient }),
    "forbidden",
  );
  assert.equal(
    rejected(s, { type: "set_status", operatorId: "op1", status: "away", by: asClient }),
    "forbidden",
  );
});

Deno.test("queue: an admin naming an unknown operator registers them offline without a grace timer", () => {
  const r = send(empty(), { type: "set_capacity", operatorId: "newbie", capacity: 2, by: admin });
  assert.deepEqual(r.events.map((e) => e.type), ["operator_registered", "capacity_changed"]);
  assert.equal(r.effects.length, 0);
  assert.equal(view(r.state).operators.newbie.status, "offline");
  assert.equal(view(r.state).operators.newbie.connected, false);
  assert.equal(view(r.state).operators.newbie.lostAt, null);
});

Deno.test("queue: the stored snapshot keeps each chat's ownership decision; replies leave it out", () => {
  let s = online(waiting(empty(), ["a", "b"]), ["op1"]);
  s = claim(s, "a", "op1").state; // seq 4
  s = claim(s, "b", "op1").state; // seq 5
  s = send(s, { type: "transfer", chatId: "b", to: null, reason: "r", by: admin }).state; // 6
  const stored = JSON.parse(JSON.stringify(queueEntity.toSnapshot!(s)));
  assert.equal(stored.active.a.decision, 4);
  assert.equal(stored.waiting[0].decision, 6);
  const back = queueEntity.fromSnapshot!(stored, "default");
  // After a restart from it, a reconcile re-sends the same decisions, not new ones.
  const ctx = { id: "default", now: T0, nextSeq: 7, cleanStop: false };
  const tells = queueEntity.onRecover!(back, ctx).filter((e) =>
    e.kind === "tell" && e.to.type === "session"
  );
  assert.deepEqual(tells, [
    assignTell("a", "op1", "reconcile", 4),
    requeueTell("b", "op1", "reconcile", { id: "queue:default", role: "admin" }, 6),
  ]);
  assert.equal("decision" in toSnapshot(s).active.a, false);
  assert.equal("decision" in toSnapshot(s).waiting[0], false);
});
