import assert from "node:assert/strict";
import type { Effect, Entity } from "../../src/runtime/entity.ts";
import {
  type OperatorCommand,
  operatorEntity,
  type OperatorEvent,
  type OperatorReplies,
  type OperatorState,
  toView,
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
  const d = entity.decide(deepFreeze(state), deepFreeze(cmd), { id: "op1", now, nextSeq: 1 });
  if (!d.ok) throw new assert.AssertionError({ message: `Rejected with ${d.code}: ${d.message}` });
  return { state: d.events.reduce(entity.evolve, state), ...d };
}

type Cmd<K extends OperatorCommand["type"]> = Extract<OperatorCommand, { type: K }>;

function send<K extends OperatorCommand["type"]>(
  state: OperatorState,
  cmd: Cmd<K>,
  now = T0,
): Ran<OperatorState, OperatorEvent, OperatorReplies[K]> {
  return run(operatorEntity, state, cmd, now) as Ran<
    OperatorState,
    OperatorEvent,
    OperatorReplies[K]
  >;
}

const empty = () => operatorEntity.initialState("op1");
const connect = (s: OperatorState, bootId = "boot-1", now = T0, name: string | undefined = "Ann") =>
  send(s, { type: "connect", role: "operator", bootId, ...(name ? { name } : {}) }, now);

// ---------------------------------------------------------------------------------------------
// connect and disconnect

Deno.test("operator: the first connect registers the operator and counts one connection", () => {
  const r = connect(empty(), "boot-1", T0);
  assert.deepEqual(r.events, [
    { type: "registered", role: "operator", name: "Ann", at: T0 },
    { type: "connected", bootId: "boot-1", at: T0 },
  ]);
  assert.deepEqual(r.reply, { openChats: [], connections: 1 });
  assert.deepEqual(r.effects, []);
  assert.deepEqual(toView(r.state), {
    id: "op1",
    role: "operator",
    name: "Ann",
    registeredAt: T0,
    boots: { "boot-1": 1 },
    connections: 1,
    openChats: [],
    lastActiveAt: T0,
  });
});

Deno.test("operator: another connect on the same boot only adds a connection", () => {
  const s = connect(empty()).state;
  const r = connect(s, "boot-1", T0 + 10);
  assert.deepEqual(r.events, [{ type: "connected", bootId: "boot-1", at: T0 + 10 }]);
  assert.deepEqual(r.reply, { openChats: [], connections: 2 });
  // Without a name the registration stays as it is.
  const unnamed = connect(r.state, "boot-1", T0 + 20, undefined);
  assert.deepEqual(unnamed.events.map((e) => e.type), ["connected"]);
  assert.equal(unnamed.state.name, "Ann");
});

Deno.test("operator: a changed role or name registers again and keeps the first registeredAt", () => {
  const s = connect(empty()).state;
  const renamed = connect(s, "boot-1", T0 + 10, "Anna");
  assert.deepEqual(renamed.events.map((e) => e.type), ["registered", "connected"]);
  assert.equal(renamed.state.name, "Anna");
  assert.equal(renamed.state.registeredAt, T0);
  const promoted = send(
    renamed.state,
    { type: "connect", role: "admin", bootId: "boot-1" },
    T0 + 20,
  );
  assert.deepEqual(promoted.events[0], { type: "registered", role: "admin", at: T0 + 20 });
  assert.equal(promoted.state.role, "admin");
  assert.equal(promoted.state.name, "Anna");
  assert.equal(promoted.state.registeredAt, T0);
  assert.equal(promoted.state.connections, 3);
});

Deno.test("operator: a connect with a new bootId restarts the connection count at 1", () => {
  let s = connect(empty(), "boot-1").state;
  s = connect(s, "boot-1").state;
  s = connect(s, "boot-1").state;
  assert.equal(s.connections, 3);
  const r = connect(s, "boot-2", T0 + 1000);
  assert.deepEqual(r.events, [{ type: "connected", bootId: "boot-2", at: T0 + 1000 }]);
  assert.deepEqual(r.reply, { openChats: [], connections: 1 });
  assert.deepEqual(r.state.boots, { "boot-2": 1 });
});

Deno.test("operator: in a cluster, connections of every live boot count and dead boots drop", () => {
  const live = ["node-a", "node-b", "node-c"];
  const on = (s: OperatorState, bootId: string, l = live) =>
    send(s, { type: "connect", role: "operator", bootId, live: l }).state;
  let s = on(on(on(empty(), "node-a"), "node-b"), "node-c");
  assert.equal(s.connections, 3);
  // node-a closes its socket: node-b and node-c still hold theirs.
  const off = send(s, { type: "disconnect", bootId: "node-a", live });
  assert.deepEqual(off.reply, { connections: 2 });
  s = off.state;
  // node-c died: the next event from node-b forgets node-c's count.
  const gone = send(s, { type: "disconnect", bootId: "node-b", live: ["node-a", "node-b"] });
  assert.deepEqual(gone.reply, { connections: 0 });
  assert.deepEqual(gone.state.boots, {});
  // In a cluster nodes name the boots known dead; boots they have not heard of yet still count.
  let d = send(empty(), { type: "connect", role: "operator", bootId: "node-x", dead: [] }).state;
  d = send(d, { type: "connect", role: "operator", bootId: "node-y", dead: ["node-old"] }).state;
  assert.deepEqual(d.boots, { "node-x": 1, "node-y": 1 });
  const dropped = send(d, { type: "disconnect", bootId: "node-y", dead: ["node-x"] });
  assert.deepEqual(dropped.reply, { connections: 0 });
  assert.deepEqual(dropped.state.boots, {});
  // A disconnect that changes nothing still answers for the live boots only.
  const idle = send(on(empty(), "node-c"), {
    type: "disconnect",
    bootId: "node-a",
    live: ["node-a"],
  });
  assert.deepEqual(idle.events, []);
  assert.deepEqual(idle.reply, { connections: 0 });
});

Deno.test("operator: disconnect on the current boot removes one connection", () => {
  const s = connect(connect(empty()).state).state;
  const r = send(s, { type: "disconnect", bootId: "boot-1" }, T0 + 50);
  assert.deepEqual(r.events, [{ type: "disconnected", bootId: "boot-1", at: T0 + 50 }]);
  assert.deepEqual(r.reply, { connections: 1 });
  assert.equal(r.state.lastActiveAt, T0 + 50);
});

Deno.test("operator: disconnect from an old boot or with no connections stores nothing", () => {
  const s = connect(empty(), "boot-2").state;
  const stale = send(s, { type: "disconnect", bootId: "boot-1" });
  assert.deepEqual(stale.events, []);
  assert.deepEqual(stale.reply, { connections: 1 });
  const zero = send(s, { type: "disconnect", bootId: "boot-2" }).state;
  const again = send(zero, { type: "disconnect", bootId: "boot-2" });
  assert.deepEqual(again.events, []);
  assert.deepEqual(again.reply, { connections: 0 });
  assert.deepEqual(send(empty(), { type: "disconnect", bootId: "boot-1" }).events, []);
});

// ---------------------------------------------------------------------------------------------
// open chats

Deno.test("operator: chat_opened and chat_closed keep the open chats, idempotently", () => {
  let s = connect(empty()).state;
  const o1 = send(s, { type: "chat_opened", chatId: "a" });
  assert.deepEqual(o1.events, [{ type: "chat_opened", chatId: "a" }]);
  assert.deepEqual(o1.reply, { openChats: ["a"] });
  s = send(o1.state, { type: "chat_opened", chatId: "b" }).state;
  const dup = send(s, { type: "chat_opened", chatId: "a" });
  assert.deepEqual(dup.events, []);
  assert.deepEqual(dup.reply, { openChats: ["a", "b"] });
  const c1 = send(s, { type: "chat_closed", chatId: "a" });
  assert.deepEqual(c1.events, [{ type: "chat_closed", chatId: "a" }]);
  assert.deepEqual(c1.reply, { openChats: ["b"] });
  const c2 = send(c1.state, { type: "chat_closed", chatId: "a" });
  assert.deepEqual(c2.events, []);
  assert.deepEqual(c2.reply, { openChats: ["b"] });
  assert.deepEqual(connect(c1.state, "boot-9").reply, { openChats: ["b"], connections: 1 });
});

Deno.test("operator: get replies the state without storing anything", () => {
  const s = send(connect(empty()).state, { type: "chat_opened", chatId: "a" }).state;
  const r = send(s, { type: "get" });
  assert.deepEqual(r.events, []);
  assert.deepEqual(r.reply, toView(s));
  assert.deepEqual(r.reply.openChats, ["a"]);
  assert.deepEqual(send(empty(), { type: "get" }).reply, {
    id: "op1",
    role: null,
    registeredAt: null,
    boots: {},
    connections: 0,
    openChats: [],
    lastActiveAt: null,
  });
});

// ---------------------------------------------------------------------------------------------
// invariants

Deno.test("operator: state survives a snapshot round-trip; older snapshots load", () => {
  let s = connect(empty()).state;
  for (const id of ["a", "b", "c"]) s = send(s, { type: "chat_opened", chatId: id }).state;
  s = send(s, { type: "chat_closed", chatId: "b" }).state;
  s = send(s, { type: "disconnect", bootId: "boot-1" }).state;
  const stored = JSON.parse(JSON.stringify(operatorEntity.toSnapshot!(s)));
  const back = operatorEntity.fromSnapshot!(stored, "op1");
  assert.deepEqual(toView(back), toView(s));
  assert.deepEqual(toView(back).openChats, ["a", "c"]);
  // The next chat opened goes last, after the ones read back.
  assert.deepEqual(send(back, { type: "chat_opened", chatId: "d" }).reply.openChats, [
    "a",
    "c",
    "d",
  ]);
  // The shape stored before open chats were indexed (the state as JSON) is the same.
  const old = {
    id: "op1",
    role: "lawyer",
    registeredAt: T0,
    boots: {},
    connections: 0,
    openChats: ["x", "y"],
    lastActiveAt: T0,
  };
  assert.deepEqual(toView(operatorEntity.fromSnapshot!(old, "op1")), old);
  assert.deepEqual(toView(operatorEntity.fromSnapshot!(toView(empty()), "op1")), toView(empty()));
});

Deno.test("operator: decide and evolve never mutate the state they are given", () => {
  const s = send(connect(empty()).state, { type: "chat_opened", chatId: "a" }).state;
  const copy = JSON.stringify(toView(s));
  const frozen = deepFreeze(s);
  const cmds: OperatorCommand[] = [
    { type: "connect", role: "lawyer", name: "Bob", bootId: "boot-1" },
    { type: "connect", role: "operator", bootId: "boot-2" },
    { type: "disconnect", bootId: "boot-1" },
    { type: "chat_opened", chatId: "b" },
    { type: "chat_closed", chatId: "a" },
    { type: "get" },
  ];
  for (const cmd of cmds) {
    const d = operatorEntity.decide(frozen, cmd, { id: "op1", now: T0 + 1, nextSeq: 1 });
    assert.ok(d.ok, cmd.type);
    d.events.reduce(operatorEntity.evolve, frozen);
  }
  assert.equal(JSON.stringify(toView(frozen)), copy);
});

Deno.test("operator: a connection that names itself is counted once, however often its connect or disconnect is retried", () => {
  const named = (s: OperatorState, connId: string, bootId = "boot-1") =>
    send(s, { type: "connect", role: "operator", bootId, connId });
  const gone = (s: OperatorState, connId: string, bootId = "boot-1") =>
    send(s, { type: "disconnect", bootId, connId });
  // A failover retries a connect that timed out but had landed: the retry adds nothing.
  const first = named(empty(), "c1");
  assert.equal(first.reply.connections, 1);
  const retried = named(first.state, "c1");
  assert.deepEqual(retried.events.map((e) => e.type), []);
  assert.equal(retried.reply.connections, 1);
  const other = named(retried.state, "c2");
  assert.equal(other.reply.connections, 2);
  // Disconnects: each counted connection once; an unknown one (its connect never landed) never.
  const never = gone(other.state, "c9");
  assert.deepEqual(never.events, []);
  assert.equal(never.reply.connections, 2);
  const one = gone(never.state, "c1");
  assert.equal(one.reply.connections, 1);
  const again = gone(one.state, "c1");
  assert.deepEqual(again.events, []);
  assert.equal(again.reply.connections, 1);
  const last = gone(again.state, "c2");
  assert.equal(last.reply.connections, 0);
  assert.equal(toView(last.state).conns, undefined);
  // The ids survive a snapshot, and go with their boot when it is pruned.
  const back = operatorEntity.fromSnapshot!(JSON.parse(JSON.stringify(toView(other.state))), "op1");
  assert.deepEqual(named(back, "c2").events, []);
  const restarted = send(other.state, {
    type: "connect",
    role: "operator",
    bootId: "boot-2",
    connId: "c1",
    live: ["boot-2"],
  });
  assert.equal(restarted.reply.connections, 1);
  assert.deepEqual(toView(restarted.state).conns, { c1: "boot-2" });
});
