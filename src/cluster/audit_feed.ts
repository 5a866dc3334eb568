/**
 * The audit log on Kafka: `chat.audit` carries every audit record (who did what to which chat,
 * when and why: offers, assignments, transfers, closes, status and capacity changes, …), for
 * consumers of seed 000's `admin_actions`.
 *
 * Audit records are written in KV in the same atomic as the event that caused them
 * (actors/_audit.ts), indexed by time under `["audit","all",at,source]`. This feed reads that
 * index from a stored cursor and produces what it has not sent yet, so a crash loses nothing: it is
 * at-least-once, and a record's `source` (`<type>/<id>#<seq>`) is its unique id for consumers.
 *
 * - **One publisher:** the owner of partition 0 of `chat.commands`. Its cursor write carries
 *   that partition's fence, so a node that lost the partition cannot move the cursor.
 * - **Late commits:** `at` is set when the event is decided, a few ms before the commit, and
 *   nodes' clocks differ; each look starts `lookbackMs` before the cursor and skips what it sent.
 *   A new publisher (after a move or restart) re-sends that window.
 */
import type { AuditRecord } from "../../actors/_audit.ts";
import type { Logger } from "../log.ts";
import type { Clock } from "../runtime/clock.ts";
import { PeriodicJob } from "../runtime/periodic.ts";
import type { KvCheck } from "../runtime/committer.ts";
import type { OutRecord } from "./broker.ts";

export const AUDIT_CURSOR_KEY: Deno.KvKey = ["cluster", "audit_feed"];
const INDEX: Deno.KvKey = ["audit", "all"];
/** Records read per KV list call, and list calls per look at most. */
const PAGE = 500;
const MAX_PAGES = 20;

export interface AuditFeedOptions {
  readonly kv: Deno.Kv;
  readonly clock: Clock;
  readonly log: Logger;
  /** Produces to `chat.audit`; resolves once the broker has the records. */
  readonly produce: (records: OutRecord[]) => Promise<void>;
  /** The fence of partition 0 while this node owns it; null otherwise. */
  readonly fence: () => KvCheck[] | null;
  /** How often the owner looks for new records (ms). */
  readonly everyMs: number;
  /** How far before the cursor each look starts (ms). */
  readonly lookbackMs: number;
}

interface Cursor {
  readonly at: number;
}

export class AuditFeed {
  readonly #o: AuditFeedOptions;
  /** Records sent by this publisher, by source, with their time (pruned behind the window). */
  readonly #sent = new Map<string, number>();
  readonly #job: PeriodicJob<number>;
  /** Records produced by this node (metrics, tests). */
  published = 0;

  constructor(o: AuditFeedOptions) {
    this.#o = o;
    this.#job = new PeriodicJob(
      o.clock,
      o.everyMs,
      () => this.#look(),
      (err) => o.log.warn("audit feed: look failed; next one retries", { err }),
    );
  }

  start(): void {
    this.#job.start();
  }

  /** Stops the timer and waits for a look under way. */
  stop(): Promise<void> {
    return this.#job.stop();
  }

  /**
   * One look (also what the timer runs): produces the records not sent yet and moves the cursor.
   * Returns how many it produced; 0 on a node that is not the publisher. Looks never overlap.
   */
  poll(): Promise<number> {
    return this.#job.run();
  }

  async #look(): Promise<number> {
    const fence = this.#o.fence();
    if (fence === null) {
      this.#sent.clear(); // another node publishes; a later turn starts from its cursor
      return 0;
    }
    const { kv, lookbackMs } = this.#o;
    const cursor = (await kv.get<Cursor>(AUDIT_CURSOR_KEY)).value?.at ?? 0;
    const from = Math.max(0, cursor - lookbackMs);
    let high = cursor;
    let produced = 0;
    let listCursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const iter = kv.list<AuditRecord>(
        { prefix: INDEX, start: [...INDEX, from] },
        { limit: PAGE, ...(listCursor ? { cursor: listCursor } : {}) },
      );
      const fresh: Deno.KvEntry<AuditRecord>[] = [];
      let n = 0;
      for await (const e of iter) {
        n++;
        const at = e.key[2] as number;
        high = Math.max(high, at);
        if (!this.#sent.has(e.value.source)) fresh.push(e);
      }
      if (fresh.length > 0) {
        await this.#o.produce(fresh.map((e) => ({
          key: e.value.chat_id ?? e.value.source,
          value: JSON.stringify(e.value),
        })));
        for (const e of fresh) this.#sent.set(e.value.source, e.key[2] as number);
        produced += fresh.length;
        this.published += fresh.length;
      }
      if (n < PAGE) break;
      listCursor = iter.cursor;
    }
    if (high > cursor) {
      const res = await kv.atomic()
        .check(...fence)
        .set(AUDIT_CURSOR_KEY, { at: high } satisfies Cursor)
        .commit();
      if (!res.ok) {
        this.#o.log.warn("audit feed: partition 0 moved; another node publishes now");
        this.#sent.clear();
        return produced;
      }
    }
    for (const [source, at] of this.#sent) {
      if (at < high - lookbackMs) this.#sent.delete(source);
    }
    return produced;
  }
}
