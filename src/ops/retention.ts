/**
 * Retention (`RETENTION_DAYS`): a sweep on the injected clock deletes chats closed longer ago
 * than that, with everything `purge.ts` deletes. One sweeper in a cluster: the owner of partition
 * 0 of `chat.commands` (as for the audit feed), its cursor write fenced by that partition.
 *
 * Work per sweep is bounded: the sweep walks the chats in key order from a stored cursor
 * (`["ops","retention","cursor"]`, wrapping around at the end), looks at most 10 ×
 * `RETENTION_BATCH` chats (one or two KV reads each: the tail of the log tells whether and when
 * it closed) and takes at most `RETENTION_BATCH` of them, for which it writes purge records; this
 * node's agent then purges the ones it owns (the others' owners pick theirs up). What was
 * deleted is counted under `["ops","retention","stats",name]` (KvU64 sums, every node's sweeps)
 * and in `/metrics` (this node's).
 */
import type { Logger } from "../log.ts";
import type { Clock } from "../runtime/clock.ts";
import { PeriodicJob } from "../runtime/periodic.ts";
import type { KvCheck } from "../runtime/committer.ts";
import { type ChatFacts, closedAtOf, readFacts } from "./chat_facts.ts";
import { SESSION } from "../../actors/_common.ts";
import { nextChat } from "./_kv.ts";
import { type PurgeAgent, writePurgeRecords } from "./jobs.ts";

export const RETENTION_CURSOR: Deno.KvKey = ["ops", "retention", "cursor"];
export const RETENTION_STATS: Deno.KvKey = ["ops", "retention", "stats"];
const DAY_MS = 24 * 3_600_000;
/** Chats looked at per chat taken, at most. */
const LOOK_FACTOR = 10;

export interface RetentionOptions {
  readonly kv: Deno.Kv;
  readonly clock: Clock;
  readonly log: Logger;
  readonly agent: PurgeAgent;
  readonly days: number;
  readonly everyMs: number;
  readonly batch: number;
  /** The fence of partition 0 while this node owns it, [] on one node; null: another sweeps. */
  readonly fence: () => KvCheck[] | null;
}

export interface SweepResult {
  /** Chats looked at, and those old enough that were handed to the purge. */
  readonly looked: number;
  readonly taken: number;
  /** The walk reached the last chat (the next sweep starts from the first). */
  readonly wrapped: boolean;
}

export class RetentionSweeper {
  readonly #o: RetentionOptions;
  readonly #job: PeriodicJob<SweepResult>;
  /** This node's sweeps (metrics). */
  readonly totals = { sweeps: 0, looked: 0, taken: 0 };

  constructor(o: RetentionOptions) {
    this.#o = o;
    this.#job = new PeriodicJob(
      o.clock,
      o.everyMs,
      () => this.#sweep(),
      (err) => o.log.warn("retention: sweep failed; the next one retries", { err }),
    );
  }

  start(): void {
    if (this.#o.days > 0) this.#job.start();
  }

  stop(): Promise<void> {
    return this.#job.stop();
  }

  /** One sweep (also what the timer runs); sweeps never overlap. */
  sweep(): Promise<SweepResult> {
    return this.#job.run();
  }

  async #sweep(): Promise<SweepResult> {
    const { kv, clock, days, batch, agent } = this.#o;
    const fence = this.#o.fence();
    if (days <= 0 || fence === null) return { looked: 0, taken: 0, wrapped: false };
    const cutoff = clock.now() - days * DAY_MS;
    const cursor = await kv.get<string>(RETENTION_CURSOR);
    let after = cursor.value;
    let looked = 0, wrapped = false;
    const taken: ChatFacts[] = [];
    while (looked < batch * LOOK_FACTOR && taken.length < batch) {
      const next = await nextChat(kv, after);
      if (next === null) {
        wrapped = true;
        after = null;
        break;
      }
      looked++;
      after = next.chatId;
      const closedAt = await closedAtOf(kv, next.chatId);
      if (closedAt === null || closedAt > cutoff) continue;
      const facts = await readFacts(kv, next.chatId);
      if (facts) taken.push(facts);
    }
    await writePurgeRecords(
      kv,
      taken.map((f) => ({
        type: SESSION,
        id: f.chatId,
        record: { mode: "retention", at: clock.now(), facts: f },
      })),
    );
    const op = kv.atomic().check(...fence);
    if (after === null) op.delete(RETENTION_CURSOR);
    else op.set(RETENTION_CURSOR, after);
    if (!(await op.commit()).ok) {
      this.#o.log.warn("retention: partition 0 moved; another node sweeps now");
    }
    await agent.drain();
    await kv.atomic()
      .sum([...RETENTION_STATS, "chats"], BigInt(taken.length))
      .sum([...RETENTION_STATS, "sweeps"], 1n)
      .commit();
    if (taken.length) {
      this.#o.log.info("retention: chats closed too long ago handed to the purge", {
        count: taken.length,
        days,
      });
    }
    this.totals.sweeps++;
    this.totals.looked += looked;
    this.totals.taken += taken.length;
    return { looked, taken: taken.length, wrapped };
  }
}

/** The stored totals of every node's sweeps: `{chats, sweeps}`. */
export async function retentionStats(kv: Deno.Kv): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for await (const e of kv.list<Deno.KvU64>({ prefix: RETENTION_STATS })) {
    out[String(e.key[e.key.length - 1])] = Number(e.value.value);
  }
  return out;
}
