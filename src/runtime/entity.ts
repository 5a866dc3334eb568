/**
 * What an actor is: a pure `decide(state, command) -> events | rejection` and a pure
 * `evolve(state, event) -> state`. All I/O (storage, sockets, other actors) lives in the runtime;
 * effects are returned as data and run only after the events are durably written.
 */
import type { ErrorCode } from "../errors.ts";

/** Address of an actor: its entity type and its id (chat id, operator id, queue name). */
export interface ActorAddress {
  readonly type: string;
  readonly id: string;
}

/** A command sent to another actor once this actor's events are stored (fire and forget). */
export interface TellEffect {
  readonly kind: "tell";
  readonly to: ActorAddress;
  readonly command: unknown;
}

/** Application-defined effect, handed to the system's effect handler after the commit. */
export interface CustomEffect {
  readonly kind: "custom";
  readonly name: string;
  readonly data: unknown;
}

/**
 * Sends `command` to this same actor after `delayMs` on the injected clock. A timer with the same
 * key replaces the earlier one. Timers live in memory only: after a restart `onRecover` re-arms
 * the ones the state still needs.
 */
export interface TimerEffect {
  readonly kind: "timer";
  readonly key: string;
  readonly delayMs: number;
  readonly command: unknown;
}

export interface CancelTimerEffect {
  readonly kind: "cancel_timer";
  readonly key: string;
}

export type Effect = TellEffect | CustomEffect | TimerEffect | CancelTimerEffect;

/**
 * An extra KV write committed in the same atomic as the event that caused it: counters (`sum`,
 * unsigned 64-bit), high-water marks (`max`, unsigned 64-bit) and index or projection records
 * (`set`, `delete`).
 */
export type KvWrite =
  | { readonly op: "set"; readonly key: Deno.KvKey; readonly value: unknown }
  | { readonly op: "sum"; readonly key: Deno.KvKey; readonly n: bigint }
  | { readonly op: "max"; readonly key: Deno.KvKey; readonly n: bigint }
  | { readonly op: "delete"; readonly key: Deno.KvKey };

export interface Accepted<E, R> {
  readonly ok: true;
  readonly events: readonly E[];
  readonly reply: R;
  readonly effects: readonly Effect[];
}

export interface Rejected {
  readonly ok: false;
  readonly code: ErrorCode;
  readonly message?: string;
}

export type Decision<E, R> = Accepted<E, R> | Rejected;

/** What `decide` may know besides state and command. Pure data, no I/O. */
export interface DecideContext {
  /** The actor's id. */
  readonly id: string;
  /** Current time from the injected clock (ms since epoch). */
  readonly now: number;
  /** Sequence number the first event of this decision will get. */
  readonly nextSeq: number;
}

export interface RecoverContext extends DecideContext {
  /**
   * True when the actor was stopped cleanly last time (passivated or shut down, with a
   * snapshot written after its last event); false after a crash or a partition move.
   */
  readonly cleanStop: boolean;
}

/** An event as stored: its per-actor sequence number, the time it was decided, the event. */
export interface Envelope<E> {
  readonly seq: number;
  readonly at: number;
  readonly event: E;
}

export interface Entity<S, C, E, R> {
  /** Entity type name; part of every storage key, so never rename it. */
  readonly type: string;
  initialState(id: string): S;
  decide(state: S, command: C, ctx: DecideContext): Decision<E, R>;
  evolve(state: S, event: E): S;
  /**
   * Effects to run once after the actor recovers from storage, e.g. re-sending what a crash
   * may have cut off between a commit and its effects. Receivers must be idempotent.
   */
  onRecover?(state: S, ctx: RecoverContext): readonly Effect[];
  /**
   * Keep the whole event log (true, e.g. a chat's history) or let the runtime delete events
   * that a snapshot covers (false, the default).
   */
  readonly retainEvents?: boolean;
  /** False keeps the actor in memory while the process lives (e.g. a hot singleton). */
  readonly passivate?: boolean;
  /**
   * The snapshot codec, for a state that holds structures JSON cannot carry (e.g. a persistent
   * sorted map): `toSnapshot` gives the JSON-ready value a snapshot stores, `fromSnapshot` rebuilds
   * the state from a stored value. `fromSnapshot` must read every shape older versions stored
   * (a snapshot outlives the code that wrote it). Without them the state itself is stored.
   */
  toSnapshot?(state: S): unknown;
  fromSnapshot?(stored: unknown, id: string): S;
  /** KV writes that must be stored atomically with an event (see {@link KvWrite}). */
  writes?(before: S, envelope: Envelope<E>, after: S): readonly KvWrite[];
  /**
   * Keys holding (as `KvU64`) the seq of the actor's latest stored event, raised in the same
   * atomic as every batch (`state` is the state after it): whoever must see each event, even ones
   * whose in-memory notice a crash cut off, compares one with a cursor of its own
   * (src/integrations/feed.ts).
   */
  seqMarks?(id: string, state: S): readonly Deno.KvKey[];
}

export function accept<E, R>(
  events: readonly E[],
  reply: R,
  effects: readonly Effect[] = [],
): Accepted<E, R> {
  return { ok: true, events, reply, effects };
}

export function reject(code: ErrorCode, message?: string): Rejected {
  return { ok: false, code, message };
}

export function tell(type: string, id: string, command: unknown): TellEffect {
  return { kind: "tell", to: { type, id }, command };
}

export function custom(name: string, data: unknown): CustomEffect {
  return { kind: "custom", name, data };
}

export function timer(key: string, delayMs: number, command: unknown): TimerEffect {
  return { kind: "timer", key, delayMs, command };
}

export function cancelTimer(key: string): CancelTimerEffect {
  return { kind: "cancel_timer", key };
}

// deno-lint-ignore no-explicit-any
export type AnyEntity = Entity<any, any, any, any>;
export type StateOf<T> = T extends Entity<infer S, infer _C, infer _E, infer _R> ? S : never;
export type CommandOf<T> = T extends Entity<infer _S, infer C, infer _E, infer _R> ? C : never;
export type EventOf<T> = T extends Entity<infer _S, infer _C, infer E, infer _R> ? E : never;
export type ReplyOf<T> = T extends Entity<infer _S, infer _C, infer _E, infer R> ? R : never;
