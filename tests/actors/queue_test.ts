import assert from "node:assert/strict";
import type { Effect, Entity } from "../../src/runtime/entity.ts";
import type { ErrorCode } from "../../src/errors.ts";
import {
  type QueueCommand,
  queueEntity,
  type QueueEvent,
  queuePosition,
  type QueueReplies,
  type QueueState,
  RECENT_WAITS_LIMIT,
} from "../../actors/mod.ts";

// ---------------------------------------------------------------------------------------------
// Local kit: decide, then fold evolve over the events. Inputs are deep-frozen, so any mutation
// inside decide or evolve throws.

const T0 = Date.UTC(2026, 0, 1);

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

interface Ran<S, E, R> {
  state: S;
  events: readonly E[];
  reply: R;
  effects: readonly Effect[];
}

function run<S, C, E, R>(entity: Entity<S, C, E, R>, state: S, cmd: C, now: number): Ran<S, E, R> {
  const d = entity.decide(deepFreeze(state), deepFreeze(cmd), { id: "default", now, nextSeq: 1 });
  if (!d.ok) throw new assert.AssertionError({ message: `Rejected with ${d.code}: ${d.message}` });
  return { state: d.events.reduce(entity.evolve, state), ...d };
}

type Cmd<K extends QueueCommand["type"]> = Extract<QueueCommand, { type: K }>;

function send<K extends QueueCommand["type"]>(
  state: QueueState,
  cmd: Cmd<K>,
  now = T0,
): Ran<QueueState, QueueEvent, QueueReplies[K]> {
  return run(queueEntity, state, cmd, now) as Ran<QueueState, QueueEvent, QueueReplies[K]>;
}

function rejected(state: QueueState, cmd: QueueCommand, now = T0): ErrorCode {
  const d = queueEntity.decide(deepFreeze(state), cmd, { id: state.name, now, nextSeq: 1 });
  assert.equal(d.ok, false, `Expected a rejection of ${cmd.type}`);
  return d.ok ? "internal" : d.code;
}

const empty = () => queueEntity.initialState("default");
const enqueue = (s: QueueState, chatId: string, priority = 0, enqueuedAt = T0) =>
  send(s, { type: "enqueue", chatId, clientId: `client-of-${chatId}`, priority, enqueuedAt });
const claim = (s: QueueState, chatId: string, operatorId: string, now = T0 + 5_000) =>
  send(s, { type: "claim", chatId, operatorId }, now);
const assignTell = (chatId: string, operatorId: string, reason: string): Effect => ({
  kind: "tell",
  to: { type: "session", id: chatId },
  command: {
    type: "assign",
    by: { id: "queue:default", role: "admin" },
    operatorId,
    reason,
  },
});
const ids = (s: QueueState) => s.waiting.map((w) => w.chatId);

// ---------------------------------------------------------------------------------------------
// enqueue

Deno.test("queue: enqueue adds a waiting chat and replies its 1-based position", () => {
  const a = enqueue(empty(), "a");
  assert.deepEqual(a.events, [{
    type: "enqueued",
    chatId: "a",
    clientId: "client-of-a",
    priority: 0,
    enqueuedAt: T0,
  }]);
  assert.deepEqual(a.reply, { position: 1 });
  assert.deepEqual(a.effects, []);
  const b = enqueue(a.state, "b", 0, T0 + 1);
  assert.deepEqual(b.reply, { position: 2 });
  assert.equal(queuePosition(b.state, "b"), 2);
  assert.equal(queuePosition(b.state, "nope"), 0);
});

Deno.test("queue: enqueue of a chat already waiting is accepted with no events", () => {
  const s = enqueue(enqueue(empty(), "a").state, "b", 0, T0 + 1).state;
  const again = enqueue(s, "b", 9, T0 + 99);
  assert.deepEqual(again.events, []);
  assert.deepEqual(again.reply, { position: 2 });
  assert.deepEqual(again.state, s);
});

Deno.test("queue: enqueue of a taken chat stores nothing and re-sends the lost assignment", () => {
  const s = claim(enqueue(empty(), "a").state, "a", "op1").state;
  const again = enqueue(s, "a");
  assert.deepEqual(again.events, []);
  assert.deepEqual(again.reply, { position: 0 });
  assert.deepEqual(again.effects, [assignTell("a", "op1", "reconcile")]);
});

Deno.test("queue: waiting chats are ordered by priority, then by the longest wait", () => {
  let s = empty();
  s = enqueue(s, "low-old", 0, T0).state;
  s = enqueue(s, "low-new", 0, T0 + 20).state;
  s = enqueue(s, "high-new", 5, T0 + 30).state;
  s = enqueue(s, "mid", 1, T0 + 10).state;
  s = enqueue(s, "low-older", 0, T0 - 10).state; // e.g. re-enqueued after a crash
  s = enqueue(s, "high-old", 5, T0 + 1).state;
  assert.deepEqual(ids(s), ["high-old", "high-new", "mid", "low-older", "low-old", "low-new"]);
  assert.equal(queuePosition(s, "mid"), 3);
  // Equal priority and time keep arrival order.
  s = enqueue(s, "low-new-2", 0, T0 + 20).state;
  assert.deepEqual(ids(s).slice(-2), ["low-new", "low-new-2"]);
});

// ---------------------------------------------------------------------------------------------
// claim: one owner per chat

Deno.test("queue: claim takes a waiting chat, records the wait and tells the session", () => {
  const s = enqueue(enqueue(empty(), "a").state, "b").state;
  const r = claim(s, "a", "op1", T0 + 5_000);
  assert.deepEqual(r.events, [{
    type: "claimed",
    chatId: "a",
    operatorId: "op1",
    waitedMs: 5_000,
    at: T0 + 5_000,
  }]);
  assert.deepEqual(r.reply, { chatId: "a", operatorId: "op1" });
  assert.deepEqual(r.effects, [assignTell("a", "op1", "accepted")]);
  assert.deepEqual(ids(r.state), ["b"]);
  assert.deepEqual(r.state.active, { a: { operatorId: "op1", assignedAt: T0 + 5_000 } });
  assert.equal(r.state.servedCount, 1);
  assert.deepEqual(r.state.recentWaits, [5_000]);
});

Deno.test("queue: a second operator claiming the same chat gets already_assigned", () => {
  const s = claim(enqueue(empty(), "a").state, "a", "op1").state;
  assert.equal(rejected(s, { type: "claim", chatId: "a", operatorId: "op2" }), "already_assigned");
});

Deno.test("queue: the same operator claiming again is accepted with no events and re-sends assign", () => {
  const s = claim(enqueue(empty(), "a").state, "a", "op1").state;
  const again = claim(s, "a", "op1", T0 + 9_000);
  assert.deepEqual(again.events, []);
  assert.deepEqual(again.reply, { chatId: "a", operatorId: "op1" });
  assert.deepEqual(again.effects, [assignTell("a", "op1", "accepted")]);
  assert.deepEqual(again.state, s);
});

Deno.test("queue: of many operators accepting the same chat at once exactly one wins", () => {
  let s = enqueue(empty(), "a").state;
  const winners: string[] = [];
  const losers: ErrorCode[] = [];
  for (let i = 0; i < 50; i++) {
    const d = queueEntity.decide(s, { type: "claim", chatId: "a", operatorId: `op${i}` }, {
      id: "default",
      now: T0 + 1,
      nextSeq: i + 2,
    });
    if (d.ok) {
      winners.push(`op${i}`);
      s = d.events.reduce(queueEntity.evolve, s);
    } else losers.push(d.code);
  }
  assert.deepEqual(winners, ["op0"]);
  assert.equal(losers.length, 49);
  assert.ok(losers.every((c) => c === "already_assigned"));
  assert.deepEqual(ids(s), []);
});

Deno.test("queue: claim of a chat that is not waiting is not_in_queue", () => {
  assert.equal(
    rejected(empty(), { type: "claim", chatId: "ghost", operatorId: "op1" }),
    "not_in_queue",
  );
  const released = send(enqueue(empty(), "a").state, {
    type: "release",
    chatId: "a",
    reason: "closed",
  });
  assert.equal(
    rejected(released.state, { type: "claim", chatId: "a", operatorId: "op1" }),
    "not_in_queue",
  );
});

Deno.test("queue: recentWaits keeps only the last 100 waits", () => {
  let s = empty();
  for (let i = 0; i < RECENT_WAITS_LIMIT + 3; i++) {
    s = enqueue(s, `c${i}`, 0, T0).state;
    s = claim(s, `c${i}`, "op1", T0 + i).state;
  }
  assert.equal(s.recentWaits.length, RECENT_WAITS_LIMIT);
  assert.equal(s.recentWaits[0], 3);
  assert.equal(s.recentWaits.at(-1), RECENT_WAITS_LIMIT + 2);
  assert.equal(s.servedCount, RECENT_WAITS_LIMIT + 3);
});

// ---------------------------------------------------------------------------------------------
// release, snapshot, activeFor

Deno.test("queue: release drops a waiting or a taken chat", () => {
  let s = enqueue(enqueue(empty(), "a").state, "b").state;
  s = claim(s, "a", "op1").state;
  const r1 = send(s, { type: "release", chatId: "a", reason: "closed" });
  assert.deepEqual(r1.events, [{
    type: "released",
    chatId: "a",
    reason: "closed",
    from: "active",
  }]);
  assert.deepEqual(r1.reply, { released: true });
  assert.deepEqual(r1.state.active, {});
  const r2 = send(r1.state, { type: "release", chatId: "b", reason: "closed" });
  assert.deepEqual(r2.events, [{
    type: "released",
    chatId: "b",
    reason: "closed",
    from: "waiting",
  }]);
  assert.deepEqual(r2.state.waiting, []);
  assert.equal(r2.state.servedCount, 1);
});

Deno.test("queue: release of an unknown chat is a no-op", () => {
  const s = enqueue(empty(), "a").state;
  const r = send(s, { type: "release", chatId: "ghost", reason: "closed" });
  assert.deepEqual(r.events, []);
  assert.deepEqual(r.effects, []);
  assert.deepEqual(r.reply, { released: false });
  assert.deepEqual(r.state, s);
  // Ids that look like Object.prototype members are just unknown chats.
  assert.deepEqual(send(s, { type: "release", chatId: "constructor", reason: "x" }).events, []);
});

Deno.test("queue: snapshot and activeFor report without storing anything", () => {
  let s = enqueue(enqueue(enqueue(empty(), "a").state, "b").state, "c", 2).state;
  s = claim(s, "a", "op1", T0 + 10).state;
  s = claim(s, "b", "op2", T0 + 20).state;
  const snap = send(s, { type: "snapshot" });
  assert.deepEqual(snap.events, []);
  assert.deepEqual(snap.reply, {
    waiting: [{ chatId: "c", clientId: "client-of-c", priority: 2, enqueuedAt: T0 }],
    active: {
      a: { operatorId: "op1", assignedAt: T0 + 10 },
      b: { operatorId: "op2", assignedAt: T0 + 20 },
    },
  });
  s = claim(s, "c", "op1", T0 + 30).state;
  const mine = send(s, { type: "activeFor", operatorId: "op1" });
  assert.deepEqual(mine.events, []);
  assert.deepEqual(mine.reply, ["a", "c"]);
  assert.deepEqual(send(s, { type: "activeFor", operatorId: "nobody" }).reply, []);
});

// ---------------------------------------------------------------------------------------------
// recovery and invariants

Deno.test("queue: recovery after a crash re-sends the assignment of every taken chat", () => {
  let s = enqueue(enqueue(enqueue(empty(), "a").state, "b").state, "c").state;
  s = claim(s, "a", "op1").state;
  s = claim(s, "b", "op2").state;
  const crash = { id: "default", now: T0 + 60_000, nextSeq: 6, cleanStop: false };
  assert.deepEqual(queueEntity.onRecover?.(s, crash), [
    assignTell("a", "op1", "reconcile"),
    assignTell("b", "op2", "reconcile"),
  ]);
  assert.deepEqual(queueEntity.onRecover?.(s, { ...crash, cleanStop: true }), []);
  assert.deepEqual(queueEntity.onRecover?.(empty(), crash), []);
});

Deno.test("queue: state survives a JSON round-trip unchanged", () => {
  let s = enqueue(enqueue(empty(), "a", 1).state, "b").state;
  s = claim(s, "a", "op1").state;
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  assert.deepEqual(JSON.parse(JSON.stringify(empty())), empty());
});

Deno.test("queue: decide and evolve never mutate the state they are given", () => {
  let s = enqueue(enqueue(empty(), "a").state, "b").state;
  s = claim(s, "a", "op1").state;
  const copy = structuredClone(s);
  const frozen = deepFreeze(structuredClone(s));
  const cmds: QueueCommand[] = [
    { type: "enqueue", chatId: "c", clientId: "x", priority: 3, enqueuedAt: T0 },
    { type: "enqueue", chatId: "a", clientId: "x", priority: 0, enqueuedAt: T0 },
    { type: "claim", chatId: "b", operatorId: "op2" },
    { type: "claim", chatId: "a", operatorId: "op1" },
    { type: "release", chatId: "a", reason: "closed" },
    { type: "release", chatId: "b", reason: "closed" },
    { type: "snapshot" },
    { type: "activeFor", operatorId: "op1" },
  ];
  for (const cmd of cmds) {
    const d = queueEntity.decide(frozen, cmd, { id: "default", now: T0 + 1, nextSeq: 1 });
    assert.ok(d.ok, cmd.type);
    d.events.reduce(queueEntity.evolve, frozen);
  }
  assert.deepEqual(frozen, copy);
});
