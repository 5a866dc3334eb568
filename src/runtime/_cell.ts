/**
 * One actor's in-memory cell and the two steps the system runs on it: recovery from the journal
 * and the handling of one drained batch (decide, evolve, group commit, replies).
 */
import { AppError, toAppError } from "../errors.ts";
import type { KvCheck } from "./committer.ts";
import type { ActorAddress, AnyEntity, Effect, Envelope, KvWrite } from "./entity.ts";
import type { Journal } from "./journal.ts";
import type { Mailbox } from "./mailbox.ts";

export interface Message {
  readonly command: unknown;
  /**
   * The sender's durable record of this command (a tell effect, see `journal.ts` "ob"): deleted
   * in the same atomic as the batch that handles the command, so a command is either still owed
   * (and delivered again after a crash) or handled, never lost in between.
   */
  readonly outboxKey?: Deno.KvKey;
  /** Set once the sender got an answer (reply, rejection or timeout). */
  settled: boolean;
  resolve?: (reply: unknown) => void;
  reject?: (err: AppError) => void;
  /** For tells: the refusal, read back by the sender right after enqueueing. */
  error?: AppError;
  /** For asks: builds the error given when the deadline passes first. */
  timeout?: () => AppError;
}

export interface Cell {
  readonly address: ActorAddress;
  readonly entity: AnyEntity;
  readonly mailbox: Mailbox<Message>;
  /** undefined until recovered, and again after a crash (restart from stored state). */
  state: unknown;
  /** Sequence number of the last stored event. */
  seq: number;
  snapshotSeq: number;
  /** Seq at which a clean (passivation/shutdown) snapshot was written, or -1. */
  cleanSeq: number;
  running: boolean;
  lastActive: number;
  idleWaiters: Array<() => void>;
  /** The snapshot being written, if any: snapshots of one actor are written one at a time. */
  snapshotting: Promise<void> | null;
}

/** Loads snapshot + later events into the cell; returns the entity's recovery effects. */
export async function recoverCell(cell: Cell, journal: Journal, now: number): Promise<Effect[]> {
  const { type, id } = cell.address;
  const rec = await journal.recover<unknown, unknown>(type, id);
  const { entity } = cell;
  let state = !rec.snapshot
    ? entity.initialState(id)
    : entity.fromSnapshot
    ? entity.fromSnapshot(rec.snapshot.state, id)
    : rec.snapshot.state;
  let seq = rec.snapshot?.header.seq ?? 0;
  for (const env of rec.events) {
    if (env.seq !== seq + 1) {
      throw new AppError("internal", `Event log of ${type} ${id} jumps from ${seq} to ${env.seq}`);
    }
    state = cell.entity.evolve(state, env.event);
    seq = env.seq;
  }
  const cleanStop = rec.events.length === 0 && (rec.snapshot?.header.clean ?? true);
  cell.state = state;
  cell.seq = seq;
  cell.snapshotSeq = rec.snapshot?.header.seq ?? 0;
  cell.cleanSeq = cleanStop && rec.snapshot ? seq : -1;
  const effects = cell.entity.onRecover?.(state, { id, now, nextSeq: seq + 1, cleanStop }) ?? [];
  return [...effects];
}

export interface BatchEnv {
  readonly journal: Journal;
  readonly now: () => number;
  readonly maxBatch: number;
  readonly checks: readonly KvCheck[];
  /** Runs after the write and before any reply: commit listeners, then effects in order. */
  readonly afterCommit: (envelopes: Envelope<unknown>[], effects: (readonly Effect[])[]) => void;
}

/** A tell effect with the key of its durable record (written with the events that caused it). */
export interface OwedTell {
  readonly kind: "tell";
  readonly to: { readonly type: string; readonly id: string };
  readonly command: unknown;
  readonly outboxKey?: Deno.KvKey;
}

export interface BatchOutcome {
  /** The error that made the actor restart, if any. */
  readonly restarted: unknown;
  /** Owed commands the batch handled and settled in its atomic. */
  readonly settled?: readonly Deno.KvKey[];
}

interface Decided {
  msg: Message;
  ok: boolean;
  reply?: unknown;
  effects?: readonly Effect[];
  error?: AppError;
}

/**
 * The tell effects of a decision that stored events become durable records, keyed by the
 * decision's last seq, written in the batch's atomic: a crash between the commit and the delivery
 * loses none of them (`ActorSystem.redeliverOwed`). Tells of decisions without events are retries
 * and re-sends of what is stored already; they stay in memory only.
 */
function owe(
  journal: Journal,
  address: { type: string; id: string },
  effects: readonly Effect[],
  seq: number,
  at: number,
  writes: KvWrite[],
): Effect[] {
  let i = 0;
  return effects.map((e) => {
    if (e.kind !== "tell") return e;
    const key = journal.outboxKey(address.type, address.id, seq, i++);
    writes.push({ op: "set", key, value: { to: e.to, command: e.command, at } });
    return { ...e, outboxKey: key } as OwedTell;
  });
}

/**
 * Drains up to `maxBatch` messages, decides each against the evolving state, stores all events
 * of the batch in one group-commit request, then answers. If decide or evolve throws, the
 * messages before it are still stored and answered, the thrower gets `internal`, the messages
 * after it go back to the mailbox, and the cell is reset so the next message recovers it.
 */
export async function processBatch(cell: Cell, env: BatchEnv): Promise<BatchOutcome> {
  const { entity, address } = cell;
  const batch = cell.mailbox.drain(env.maxBatch);
  let state = cell.state;
  let seq = cell.seq;
  const staged: Envelope<unknown>[] = [];
  const writes: KvWrite[] = [];
  const decided: Decided[] = [];
  let crash: { msg: Message; err: unknown } | null = null;

  for (let i = 0; i < batch.length; i++) {
    const msg = batch[i];
    const now = env.now();
    try {
      const d = entity.decide(state, msg.command, { id: address.id, now, nextSeq: seq + 1 });
      if (!d.ok) {
        decided.push({ msg, ok: false, error: new AppError(d.code, d.message) });
        continue;
      }
      let next = state;
      const envs: Envelope<unknown>[] = [];
      const extra: KvWrite[] = [];
      for (const event of d.events) {
        const before = next;
        next = entity.evolve(next, event);
        const env = { seq: seq + envs.length + 1, at: now, event };
        envs.push(env);
        if (entity.writes) extra.push(...entity.writes(before, env, next));
      }
      state = next;
      seq += envs.length;
      staged.push(...envs);
      writes.push(...extra);
      const effects = envs.length > 0 && d.effects.length > 0
        ? owe(env.journal, address, d.effects, seq, now, writes)
        : d.effects;
      decided.push({ msg, ok: true, reply: d.reply, effects });
    } catch (err) {
      crash = { msg, err };
      cell.mailbox.unshiftAll(batch.slice(i + 1));
      break;
    }
  }

  // The owed commands this batch handled (accepted or refused) are settled with it.
  for (const d of decided) if (d.msg.outboxKey) writes.push({ op: "delete", key: d.msg.outboxKey });
  if (staged.length > 0 || writes.length > 0) {
    for (const key of staged.length > 0 ? entity.seqMarks?.(address.id, state) ?? [] : []) {
      writes.push({ op: "max", key, n: BigInt(seq) });
    }
    try {
      await env.journal.append(address.type, address.id, staged, env.checks, writes);
    } catch (err) {
      const e = toAppError(err);
      for (const d of decided) answer(d.msg, undefined, e);
      if (crash) answer(crash.msg, undefined, e);
      cell.state = undefined;
      return { restarted: err };
    }
  }
  cell.state = state;
  cell.seq = seq;

  const effects = decided.filter((d) => d.ok && d.effects?.length).map((d) => d.effects!);
  env.afterCommit(staged, effects);
  for (const d of decided) answer(d.msg, d.reply, d.error);
  if (crash) {
    answer(crash.msg, undefined, new AppError("internal", `Actor ${address.type} failed`));
    cell.state = undefined;
  }
  const settled = decided.flatMap((d) => d.msg.outboxKey ? [d.msg.outboxKey] : []);
  return { restarted: crash?.err, settled };
}

function answer(msg: Message, reply: unknown, error: AppError | undefined): void {
  if (msg.settled) return;
  msg.settled = true;
  if (error) msg.reject?.(error);
  else msg.resolve?.(reply);
}
