/**
 * Shared helpers of the actor tests: pure decide/evolve folding with deep-frozen inputs, queue
 * builders and invariants, a seeded PRNG, and recording "probe" actors for the ActorTestKit.
 */
import assert from "node:assert/strict";
import {
  accept,
  type DecideContext,
  type Effect,
  type Entity,
  type KvWrite,
  type TellEffect,
} from "../../src/runtime/entity.ts";
import type { ErrorCode } from "../../src/errors.ts";
import type { StaffRole } from "../../src/auth/principal.ts";
import {
  type Caller,
  DEFAULT_ROUTING,
  type OperatorStatus,
  type QueueCommand,
  queueEntity,
  type QueueEvent,
  type QueueReplies,
  type QueueState,
  type RoutingConfig,
} from "../../actors/mod.ts";
import { canTakeMore, capacityOf } from "../../actors/_queue_routing.ts";
import { toSnapshot } from "../../actors/_queue_codec.ts";
import { checkTree } from "../../actors/_sorted_map.ts";
import { ActorTestKit } from "../../src/runtime/testkit.ts";

export const T0 = Date.UTC(2026, 0, 1);

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export interface Ran<S, E, R> {
  state: S;
  events: readonly E[];
  reply: R;
  effects: readonly Effect[];
}

/** decide on frozen inputs, then fold evolve over the events; a rejection fails the test. */
export function run<S, C, E, R>(
  entity: Entity<S, C, E, R>,
  state: S,
  cmd: C,
  ctx: DecideContext,
): Ran<S, E, R> {
  const d = entity.decide(deepFreeze(state), deepFreeze(cmd), ctx);
  if (!d.ok) throw new assert.AssertionError({ message: `Rejected with ${d.code}: ${d.message}` });
  return { state: d.events.reduce(entity.evolve, state), ...d };
}

/** The rejection code of a command that must be rejected. */
export function rejectedBy<S, C, E, R>(
  entity: Entity<S, C, E, R>,
  state: S,
  cmd: C,
  ctx: DecideContext,
): ErrorCode {
  const d = entity.decide(deepFreeze(state), cmd, ctx);
  assert.equal(d.ok, false, `Expected a rejection of ${(cmd as { type: string }).type}`);
  return d.ok ? "internal" : d.code;
}

// ---------------------------------------------------------------------------------------------
// Queue

export type QCmd<K extends QueueCommand["type"]> = Extract<QueueCommand, { type: K }>;
/**
 * The seq of the last event behind each state these helpers made, so that decisions are numbered
 * as the runtime numbers them (a state made otherwise counts as having none).
 */
const seqOf = new WeakMap<QueueState, number>();
const qctx = (state: QueueState, now: number): DecideContext => ({
  id: "default",
  now,
  nextSeq: (seqOf.get(state) ?? 0) + 1,
});

/** Runs one command the way the runtime would number its events. */
function runQueue(state: QueueState, cmd: QueueCommand, now: number) {
  const ctx = qctx(state, now);
  const r = run(queueEntity, state, cmd, ctx);
  if (!seqOf.has(r.state)) seqOf.set(r.state, ctx.nextSeq - 1 + r.events.length);
  return r;
}

export function send<K extends QueueCommand["type"]>(
  state: QueueState,
  cmd: QCmd<K>,
  now = T0,
): Ran<QueueState, QueueEvent, QueueReplies[K]> {
  return runQueue(state, cmd, now) as Ran<QueueState, QueueEvent, QueueReplies[K]>;
}

/** The state after any accepted queue command. */
export const apply = (state: QueueState, cmd: QueueCommand, now = T0): QueueState =>
  runQueue(state, cmd, now).state;

export function rejected(state: QueueState, cmd: QueueCommand, now = T0): ErrorCode {
  return rejectedBy(queueEntity, state, cmd, qctx(state, now));
}

export const admin: Caller = { id: "adm", role: "admin" };
export const QUEUE_CALLER: Caller = { id: "queue:default", role: "admin" };
export const self = (id: string): Caller => ({ id, role: "operator" });

export const empty = () => queueEntity.initialState("default");
export const enqueue = (s: QueueState, chatId: string, priority = 0, enqueuedAt = T0, now = T0) =>
  send(s, { type: "enqueue", chatId, clientId: `client-of-${chatId}`, priority, enqueuedAt }, now);
export const claim = (s: QueueState, chatId: string, operatorId: string, now = T0 + 5_000) =>
  send(s, { type: "claim", chatId, operatorId }, now);

/** Connects each operator (status online). */
export function online(s: QueueState, ids: string[], role: StaffRole = "operator", now = T0) {
  for (const id of ids) s = send(s, { type: "operator_online", operatorId: id, role }, now).state;
  return s;
}

export function status(s: QueueState, id: string, to: OperatorStatus, by = self(id), now = T0) {
  return send(s, { type: "set_status", operatorId: id, status: to, by }, now);
}

/** Enqueues each chat, one ms apart from `from`. */
export function waiting(s: QueueState, ids: string[], from = T0): QueueState {
  ids.forEach((id, i) => s = enqueue(s, id, 0, from + i, from + i).state);
  return s;
}

export const autoConfig = (over: Partial<RoutingConfig> = {}): RoutingConfig => ({
  ...DEFAULT_ROUTING,
  mode: "auto",
  ...over,
});
export const configure = (s: QueueState, config: RoutingConfig, now = T0) =>
  send(s, { type: "configure", config }, now);

/** The queue as plain JSON (waiting in order, taken chats and roster as records). */
export const view = (s: QueueState) => toSnapshot(s);

export const ids = (s: QueueState) => view(s).waiting.map((w) => w.chatId);
export const offerOf = (s: QueueState, chatId: string) =>
  view(s).waiting.find((w) => w.chatId === chatId)?.offer ?? null;
export const loads = (s: QueueState) =>
  Object.fromEntries(Object.entries(view(s).operators).map(([id, o]) => [id, o.load]));

const sessionTell = (chatId: string, command: unknown): TellEffect => ({
  kind: "tell",
  to: { type: "session", id: chatId },
  command,
});
/** `decision`: the queue seq of the claim, transfer or requeue the command carries out. */
export const assignTell = (
  chatId: string,
  operatorId: string,
  reason: string,
  decision: number,
) => sessionTell(chatId, { type: "assign", by: QUEUE_CALLER, operatorId, reason, decision });
export const requeueTell = (
  chatId: string,
  from: string,
  reason: string,
  actor: Caller,
  decision: number,
) => sessionTell(chatId, { type: "requeue", by: QUEUE_CALLER, from, reason, actor, decision });

/** Active chats plus open offers of an operator, counted from scratch. */
export function recountLoad(s: QueueState, operatorId: string): number {
  const active = Object.values(view(s).active).filter((a) => a.operatorId === operatorId).length;
  return active + view(s).waiting.filter((w) => w.offer?.operatorId === operatorId).length;
}

/** Every index holds what the others say, and every tree is ordered, sized and balanced. */
export function assertIndexes(s: QueueState, where = ""): void {
  for (const [name, m] of Object.entries(s)) {
    if (m && typeof m === "object" && "root" in m) {
      assert.equal(checkTree(m as Parameters<typeof checkTree>[0]), null, `${name} ${where}`);
    }
  }
  const byId = [...s.waitingById.values()];
  const ordered = [...s.waitingOrder.keys()];
  assert.equal(ordered.length, byId.length, `waiting indexes differ ${where}`);
  for (const w of ordered) assert.equal(s.waitingById.get(w.chatId), w, `stale entry ${where}`);
  assert.deepEqual(
    [...s.unoffered.keys()].map((w) => w.chatId),
    ordered.filter((w) => !w.offer).map((w) => w.chatId),
    `unoffered ${where}`,
  );
  assert.deepEqual(
    [...s.offers.keys()].map(([op, chat]) => `${op}/${chat}`).sort(),
    ordered.filter((w) => w.offer).map((w) => `${w.offer!.operatorId}/${w.chatId}`).sort(),
    `offers ${where}`,
  );
  const active = [...s.active.entries()];
  assert.equal(s.activeOrder.size, active.length, `activeOrder ${where}`);
  assert.equal(s.activeByOperator.size, active.length, `activeByOperator ${where}`);
  for (const [chatId, a] of active) {
    assert.equal(s.activeOrder.get(a.since), chatId, `activeOrder of ${chatId} ${where}`);
    assert.equal(s.activeByOperator.get([a.operatorId, a.since]), chatId, `byOp ${where}`);
  }
  const free = [...s.operators.entries()]
    .filter(([, o]) => o.role === "operator" && canTakeMore(s, o))
    .map(([id]) => id).sort();
  assert.deepEqual([...s.free.keys()].map((k) => k.id).sort(), free, `free ${where}`);
  for (const k of s.free.keys()) {
    const o = s.operators.get(k.id)!;
    assert.deepEqual([k.load, k.idleSince], [o.load, o.idleSince], `free key ${where}`);
  }
}

/** The single-writer invariants: one place per chat, true loads, never over capacity. */
export function assertInvariants(s: QueueState, where = ""): void {
  assertIndexes(s, where);
  const waitingIds = ids(s);
  assert.equal(new Set(waitingIds).size, waitingIds.length, `duplicate waiting chat ${where}`);
  for (const id of waitingIds) {
    assert.ok(!Object.hasOwn(view(s).active, id), `chat ${id} both waiting and active ${where}`);
  }
  for (const [id, slot] of Object.entries(view(s).operators)) {
    assert.equal(slot.load, recountLoad(s, id), `load of ${id} ${where}`);
    assert.ok(slot.load <= capacityOf(s, slot), `${id} over capacity (${slot.load}) ${where}`);
  }
  for (const w of view(s).waiting) {
    if (w.offer) assert.ok(view(s).operators[w.offer.operatorId], `offer to unknown op ${where}`);
  }
}

/**
 * The audit keys each event of one command writes, by event type: `["audit", "chat" | "op", id]`
 * (time and source left off; the `all` index left out).
 */
export function auditKeys(
  state: QueueState,
  cmd: QueueCommand,
  now = T0,
): Array<[string, Deno.KvKey[]]> {
  const d = queueEntity.decide(state, cmd, qctx(state, now));
  assert.ok(d.ok, `decide ${cmd.type}`);
  const out: Array<[string, Deno.KvKey[]]> = [];
  let s = state;
  d.events.forEach((event, i) => {
    const after = queueEntity.evolve(s, event);
    const writes: readonly KvWrite[] = queueEntity.writes!(
      s,
      { seq: i + 1, at: now, event },
      after,
    );
    const keys = writes.map((w) => w.key.slice(0, 3)).filter((k) => k[1] !== "all");
    out.push([event.type, keys]);
    s = after;
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Randomness and the test kit

/** Deterministic 32-bit PRNG: the same seed gives the same sequence. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Probe {
  readonly entity: Entity<null, unknown, never, null>;
  /** Every command it received, in order, with the id it was sent to. */
  readonly seen: Array<{ id: string; command: Record<string, unknown> }>;
}

/** A stand-in actor of `type` that records what it is told and stores nothing. */
export function probe(type: string): Probe {
  const seen: Probe["seen"] = [];
  return {
    seen,
    entity: {
      type,
      initialState: () => null,
      decide: (_s, command, ctx) => {
        seen.push({ id: ctx.id, command: command as Record<string, unknown> });
        return accept([], null);
      },
      evolve: (s) => s,
    },
  };
}

/** Every value under a KV key prefix. */
export async function listValues<T>(kv: Deno.Kv, prefix: Deno.KvKey): Promise<T[]> {
  const out: T[] = [];
  for await (const e of kv.list<T>({ prefix })) out.push(e.value);
  return out;
}

/** A KV `sum` counter as a number (0 when never written). */
export async function counter(kv: Deno.Kv, key: Deno.KvKey): Promise<number> {
  const v = (await kv.get<Deno.KvU64>(key)).value;
  return v === null ? 0 : Number(v.value);
}

/** A queue on the test kit, with a probe standing in for the sessions it tells. */
export async function queueKit() {
  const session = probe("session");
  const kit = await ActorTestKit.create(queueEntity, "default", { entities: [session.entity] });
  const told = (type: string) => session.seen.filter((m) => m.command.type === type);
  return { kit, session, told };
}
export const up = (operatorId: string): QueueCommand => ({
  type: "operator_online",
  operatorId,
  role: "operator",
});
export const enq = (chatId: string, enqueuedAt = T0): QueueCommand => ({
  type: "enqueue",
  chatId,
  clientId: `client-of-${chatId}`,
  priority: 0,
  enqueuedAt,
});
export const take = (chatId: string, operatorId: string): QueueCommand => ({
  type: "claim",
  chatId,
  operatorId,
});
