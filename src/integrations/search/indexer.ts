/**
 * Keeps the conversation index in step with every stored chat event, off the hot path and without
 * losing any to a crash, on one node or many sharing the KV. The same pattern as the webhook
 * intake (src/integrations/webhooks/intake.ts):
 *
 * - fast path: each stored event (`ChatService.onChatEvent`, on the node owning the chat) joins a
 *   bounded in-memory list; a drain step takes up to {@link STEP_EVENTS} at a time into the index
 *   (few KV writes for many chats) and then moves each chat's cursor over the events it continues.
 *   Steps are paced: while fewer than a step's events wait, the next step starts
 *   {@link GATHER_MS} after the last one started (an event after a quiet spell goes at once).
 *   Every KV commit is an fsync of the index's WAL, on the disk of the chats' own commits, and
 *   each step costs SQLite and main-thread work of its own; an indexer that wrote as soon as
 *   anything waited (drains of a few events) took the server from about 65% to 110% of a core at
 *   1,000 msgs/s and doubled the chats' commit time. Paced, with the store planning in slices of
 *   the event loop, it costs less than half of that (docs/BENCHMARKS.md, "The search index paced");
 * - catch-up: every chat's search feed mark (`["feed_search", chatId]`, raised in the same atomic
 *   as its events) is compared with the cursor; events a crash, a stop or a full list left
 *   behind are read back from the chat's log and taken in (src/integrations/feed.ts), on any node.
 *
 * Taking an event in twice is harmless (./store.ts), which is what makes both paths, and several
 * nodes, safe together. An event is in the index within a gather interval and a step of being
 * stored, or within a catch-up period (`pollMs`) after a crash.
 */
import { SEARCH_FEED_PREFIX } from "../../../actors/_session_writes.ts";
import type { Logger } from "../../log.ts";
import type { Clock, TimerId } from "../../runtime/clock.ts";
import { CatchUp, Cursors, type FeedEvent, type LogReader } from "../feed.ts";
import { K, type SearchStore } from "./store.ts";

/** Events held in memory while KV writes catch up; more are left to the catch-up. */
export const INTAKE_CAPACITY = 10_000;
/** Events per drain step: a step writes them in as few KV commits as the limits allow. */
export const STEP_EVENTS = 2_000;
/**
 * The pause between the starts of two drain steps while less than a step's events wait (ms): the
 * index's refresh interval under steady traffic (`SEARCH_REFRESH_MS`), as Elasticsearch's default.
 */
export const GATHER_MS = 1000;
const RETRY_WRITE_MS = 1000;

export interface IndexerOptions {
  readonly store: SearchStore;
  readonly readLog: LogReader;
  readonly clock: Clock;
  readonly log: Logger;
  /** How often the marks are looked at (ms). */
  readonly pollMs: number;
  readonly capacity?: number;
  /** {@link GATHER_MS} unless said. */
  readonly gatherMs?: number;
}

export class Indexer {
  readonly #o: IndexerOptions;
  readonly #cursors: Cursors;
  readonly catchUp: CatchUp;
  readonly #capacity: number;
  #queue: FeedEvent[] = [];
  #writing: Promise<void> | null = null;
  #retryTimer: TimerId | null = null;
  #gatherTimer: TimerId | null = null;
  /** The last step's write failed (its events wait for the retry). */
  #failed = false;
  /** When the last step started (clock ms). */
  #lastStep = -Infinity;
  /** Events put in the list, and taken out of it written (in order: the list is FIFO). */
  #pushed = 0;
  #written = 0;
  #stopped = false;
  #overflowing = false;
  /** Events left to the catch-up because the list was full (this process's lifetime). */
  left = 0;

  constructor(o: IndexerOptions) {
    this.#o = o;
    this.#capacity = o.capacity ?? INTAKE_CAPACITY;
    this.#cursors = new Cursors(o.store.kv, K.cursor);
    this.catchUp = new CatchUp({
      kv: o.store.marksKv,
      name: "search",
      marks: SEARCH_FEED_PREFIX,
      cursors: this.#cursors,
      readLog: o.readLog,
      // The index always wants every event.
      prepare: () => Promise.resolve((events) => o.store.take(events)),
      clock: o.clock,
      log: o.log,
      pollMs: o.pollMs,
    });
  }

  /** Looks at the marks once (events stored while no indexer ran are taken in), then on a timer. */
  start(): Promise<void> {
    return this.catchUp.start();
  }

  /** A stored chat event; every one, in seq order per chat. Never blocks, never throws. */
  push(e: FeedEvent): void {
    if (this.#stopped) return;
    if (this.#queue.length >= this.#capacity) {
      this.left++;
      if (!this.#overflowing) {
        this.#overflowing = true;
        this.#o.log.warn("search indexer full: events left to the catch-up", { chat: e.chatId });
      }
      return;
    }
    this.#queue.push(e);
    this.#pushed++;
    this.#kick();
  }

  /** Events waiting in memory. */
  get backlog(): number {
    return this.#queue.length;
  }

  /**
   * Resolves once everything pushed before the call is in the index (or has failed to be: a
   * retry waits). Events gathering for the next step are written now.
   */
  async flushed(): Promise<void> {
    // Only what is here now: under steady traffic the list is never empty for long, and a
    // search waiting on this must not wait for events that arrive after it.
    const target = this.#pushed;
    while (this.#written < target) {
      if (this.#writing) await this.#writing;
      else if (this.#failed || this.#retryTimer !== null || this.#queue.length === 0) return;
      else {
        if (this.#gatherTimer !== null) this.#o.clock.clearTimeout(this.#gatherTimer);
        this.#gatherTimer = null;
        this.#step();
      }
    }
  }

  /** Resolves once no step is being written; events gathering for the next one stay there. */
  async settled(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer !== null) this.#o.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    if (this.#gatherTimer !== null) this.#o.clock.clearTimeout(this.#gatherTimer);
    this.#gatherTimer = null;
    await this.flushed();
    await this.catchUp.stop();
    if (this.#queue.length) {
      this.#o.log.info("search events left to the catch-up at shutdown", {
        count: this.#queue.length,
      });
    }
  }

  #kick(): void {
    if (this.#writing || this.#retryTimer !== null) return;
    const gatherMs = this.#o.gatherMs ?? GATHER_MS;
    const wait = this.#queue.length >= STEP_EVENTS
      ? 0
      : this.#lastStep + gatherMs - this.#o.clock.now();
    if (wait > 0) {
      this.#gatherTimer ??= this.#o.clock.setTimeout(() => {
        this.#gatherTimer = null;
        this.#kick();
      }, wait);
      return;
    }
    if (this.#gatherTimer !== null) this.#o.clock.clearTimeout(this.#gatherTimer);
    this.#gatherTimer = null;
    this.#step();
  }

  /** Writes the next step's events (nothing when none wait), then looks whether more wait. */
  #step(): void {
    if (this.#queue.length === 0) return;
    this.#lastStep = this.#o.clock.now();
    this.#writing = this.#write().finally(() => {
      this.#writing = null;
      if (this.#queue.length && !this.#stopped) this.#kick();
    });
  }

  async #write(): Promise<void> {
    const batch = this.#queue.splice(0, STEP_EVENTS);
    try {
      await this.#o.store.take(batch);
      await this.#cursors.advance(batch);
    } catch (err) {
      // KV refused a write: keep the batch first in line and try again shortly.
      this.#failed = true;
      this.#queue.unshift(...batch);
      this.#o.log.error("search index write failed; retrying", { err });
      if (this.#stopped) return;
      this.#retryTimer = this.#o.clock.setTimeout(() => {
        this.#retryTimer = null;
        this.#kick();
      }, RETRY_WRITE_MS);
      return;
    }
    this.#failed = false;
    this.#written += batch.length;
    if (this.#queue.length === 0) this.#overflowing = false;
  }
}
