/**
 * Purge records: the durable to-do list of the data lifecycle. Whoever decides that a chat (or a
 * client actor) goes — the retention sweep, an erasure — writes a record first:
 *
 * - `["ops","purge","session",chatId]` → {@link PurgeRecord} (its facts, so the purge can finish
 *   after the log is gone);
 * - `["ops","purge","client",clientId]` → {@link PurgeRecord} without facts (erasure).
 *
 * The {@link PurgeAgent} of the node that owns the actor (one node: every record; a cluster: the
 * owner of the record's partition, because only that node can release the actor from memory)
 * carries it out and deletes the record when everything is gone; a crash leaves the record, and
 * the agent runs it again at start and every few seconds. Records hold a client id and chat ids
 * only while the purge is pending.
 *
 * An erased Telegram chat gets a second look a minute later (`["ops","late",chatId]`), for
 * the records of its closing notice, which the Telegram outbound writes after the purge.
 *
 * Hint pairs deleted are announced under `["ops","hints_gone",at,uuid]` → numbers (no text, no
 * ids; expiring after a day), so every node drops them from its in-memory index.
 */
import { CLIENT, SESSION } from "../../actors/_common.ts";
import type { Logger } from "../log.ts";
import type { Clock, TimerId } from "../runtime/clock.ts";
import type { ActorAddress } from "../runtime/entity.ts";
import type { ChatFacts } from "./chat_facts.ts";
import type { ChatPurger, PurgeCounts, PurgeMode } from "./purge.ts";

export interface PurgeRecord {
  readonly mode: PurgeMode;
  readonly at: number;
  readonly facts?: ChatFacts;
}

export const PURGE_PREFIX: Deno.KvKey = ["ops", "purge"];
export const purgeKey = (type: string, id: string): Deno.KvKey => [...PURGE_PREFIX, type, id];
const HINTS_GONE: Deno.KvKey = ["ops", "hints_gone"];
const LATE: Deno.KvKey = ["ops", "late"];
/** When the second look at an erased Telegram chat comes. */
export const LATE_MS = 60_000;
const HINTS_GONE_TTL_MS = 24 * 3_600_000;
/** Chats purged together (one scan of the shared prefixes serves them all). */
const BATCH = 50;

/** Totals of what this node's agent purged (metrics). */
export interface PurgeTotals {
  chats: number;
  clients: number;
  keys: number;
  attachments: number;
  hints: number;
  deliveries: number;
  scrubbed: number;
}

export interface AgentOptions {
  readonly kv: Deno.Kv;
  readonly clock: Clock;
  readonly log: Logger;
  readonly purger: ChatPurger;
  /** Whether this node owns an actor now (one node: always). */
  readonly owns: (address: ActorAddress) => boolean;
  /** Removes history pairs from this node's hint index (no hints: nothing). */
  readonly dropHints: (numbers: readonly number[]) => void;
  readonly everyMs: number;
}

export class PurgeAgent {
  readonly #o: AgentOptions;
  readonly totals: PurgeTotals = {
    chats: 0,
    clients: 0,
    keys: 0,
    attachments: 0,
    hints: 0,
    deliveries: 0,
    scrubbed: 0,
  };
  #timer: TimerId | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;
  /** The last hints-gone announcement this node applied. */
  #hintsSeen: Deno.KvKey | null = null;

  constructor(o: AgentOptions) {
    this.#o = o;
  }

  start(): void {
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running?.catch(() => {});
  }

  /**
   * Carries out every record this node owns, until none is left (records that cannot finish
   * yet stay for the next run). Runs never overlap; a call during a run waits for it and runs
   * again.
   */
  drain(): Promise<void> {
    const before = this.#running ?? Promise.resolve();
    const run: Promise<void> = before.catch(() => {}).then(() => this.#drain());
    const tracked = run.finally(() => {
      if (this.#running === tracked) this.#running = null;
    });
    this.#running = tracked;
    return tracked;
  }

  /** Announces deleted hint pairs to every node (this one drops them at once). */
  async hintsGone(numbers: number[]): Promise<void> {
    this.#o.dropHints(numbers);
    const key = [...HINTS_GONE, this.#o.clock.now(), crypto.randomUUID()];
    await this.#o.kv.set(key, numbers, { expireIn: HINTS_GONE_TTL_MS });
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = null;
      Promise.all([this.drain(), this.#followHints()])
        .catch((err) => this.#o.log.warn("purge agent: run failed; the next one retries", { err }))
        .finally(() => this.#schedule(this.#o.everyMs));
    }, delayMs);
  }

  async #drain(): Promise<void> {
    const { kv, owns, purger, log } = this.#o;
    const sessions = new Map<PurgeMode, Array<Deno.KvEntry<PurgeRecord>>>();
    const clients: Array<Deno.KvEntry<PurgeRecord>> = [];
    for await (const e of kv.list<PurgeRecord>({ prefix: PURGE_PREFIX })) {
      const type = String(e.key[2]), id = String(e.key[3]);
      if (!owns({ type, id })) continue;
      if (type === SESSION && e.value.facts) {
        const list = sessions.get(e.value.mode) ?? [];
        list.push(e);
        sessions.set(e.value.mode, list);
      } else if (type === CLIENT) clients.push(e);
    }
    for (const [mode, list] of sessions) {
      for (let i = 0; i < list.length && !this.#stopped; i += BATCH) {
        const batch = list.slice(i, i + BATCH);
        const counts = await purger.purge(batch.map((e) => e.value.facts!), mode);
        this.#add(counts);
        if (!counts.complete) continue;
        const late = batch.filter((e) => mode === "erase" && e.value.facts!.telegramRef);
        const due = this.#o.clock.now() + LATE_MS;
        for (const e of late) {
          await kv.set([...LATE, String(e.key[3])], { ...e.value, at: due } satisfies PurgeRecord);
        }
        await this.#settle(batch);
        log.info("chats purged", { mode, ...counts });
      }
    }
    for await (const e of kv.list<PurgeRecord>({ prefix: LATE })) {
      const f = e.value.facts;
      if (this.#stopped || !f || e.value.at > this.#o.clock.now()) continue;
      if (!owns({ type: SESSION, id: f.chatId })) continue;
      this.totals.keys += await purger.purgeLate([f]);
      await this.#settle([e]);
    }
    // Clients after their chats: the chats' purges scrub the client's id from the queue's log.
    for (const e of clients) {
      if (this.#stopped) break;
      this.totals.keys += await purger.purgeClient(String(e.key[3]));
      this.totals.clients++;
      await this.#settle([e]);
    }
  }

  /** Deletes records whose purge finished, unless they were rewritten meanwhile. */
  async #settle(done: ReadonlyArray<Deno.KvEntry<PurgeRecord>>): Promise<void> {
    for (let i = 0; i < done.length; i += 100) {
      const op = this.#o.kv.atomic();
      for (const e of done.slice(i, i + 100)) op.check(e).delete(e.key);
      if (!(await op.commit()).ok) {
        for (const e of done.slice(i, i + 100)) {
          await this.#o.kv.atomic().check(e).delete(e.key).commit();
        }
      }
    }
  }

  #add(c: PurgeCounts): void {
    const t = this.totals;
    t.chats += c.chats;
    t.keys += c.keys;
    t.attachments += c.attachments;
    t.hints += c.hints;
    t.deliveries += c.deliveries;
    t.scrubbed += c.scrubbed;
  }

  /** Applies other nodes' hints-gone announcements to this node's index. */
  async #followHints(): Promise<void> {
    const { kv } = this.#o;
    const start = this.#hintsSeen ? [...this.#hintsSeen, ""] : undefined;
    const iter = kv.list<number[]>(
      start ? { prefix: HINTS_GONE, start } : { prefix: HINTS_GONE },
      { limit: 1000 },
    );
    for await (const e of iter) {
      this.#o.dropHints(e.value);
      this.#hintsSeen = e.key;
    }
  }
}

/**
 * Writes purge records (in atomics of up to 50), replacing older ones for the same actor — except
 * that retention never replaces a pending erasure (which also scrubs the client's id).
 */
export async function writePurgeRecords(
  kv: Deno.Kv,
  records: ReadonlyArray<{ type: string; id: string; record: PurgeRecord }>,
): Promise<void> {
  for (let i = 0; i < records.length; i += 50) {
    const op = kv.atomic();
    for (const r of records.slice(i, i + 50)) {
      const key = purgeKey(r.type, r.id);
      if (r.record.mode === "retention") op.check({ key, versionstamp: null });
      op.set(key, r.record);
    }
    if ((await op.commit()).ok) continue;
    // One of them is pending already: write the others one by one.
    for (const r of records.slice(i, i + 50)) {
      const key = purgeKey(r.type, r.id);
      const one = kv.atomic();
      if (r.record.mode === "retention") one.check({ key, versionstamp: null });
      await one.set(key, r.record).commit();
    }
  }
}

/** How many of these records are still pending. */
export async function pendingRecords(
  kv: Deno.Kv,
  keys: readonly Deno.KvKey[],
): Promise<number> {
  let n = 0;
  for (let i = 0; i < keys.length; i += 10) {
    for (const e of await kv.getMany(keys.slice(i, i + 10))) if (e.versionstamp !== null) n++;
  }
  return n;
}
