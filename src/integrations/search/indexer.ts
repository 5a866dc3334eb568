/**
 * Keeps the conversation index in step with every stored chat event, off the hot path and without
 * losing any to a crash, on one node or many sharing the KV. The same pattern as the webhook
 * intake (src/integrations/webhooks/intake.ts):
 *
 * - fast path: each stored event (`ChatService.onChatEvent`, on the node owning the chat) joins a
 *   bounded in-memory list; a drain takes up to {@link BATCH} at a time into the index (one KV
 *   write for many chats) and then moves each chat's cursor over the events it continues;
 * - catch-up: every chat's search feed mark (`["feed_search", chatId]`, raised in the same atomic
 *   as its events) is compared with the cursor; events a crash, a stop or a full list left
 *   behind are read back from the chat's log and taken in (src/integrations/feed.ts), on any node.
 *
 * Taking an event in twice is harmless (./store.ts), which is what makes both paths, and several
 * nodes, safe together. An event is in the index within a drain of being stored, or within a
 * catch-up period (`pollMs`) after a crash.
 */
import { SEARCH_FEED_PREFIX } from "../../../actors/_session_writes.ts";
import type { Logger } from "../../log.ts";
import type { Clock, TimerId } from "../../runtime/clock.ts";
import { CatchUp, Cursors, type FeedEvent, type LogReader } from "../feed.ts";
import { K, type SearchStore } from "./store.ts";

/** Events held in memory while KV writes catch up; more are left to the catch-up. */
export const INTAKE_CAPACITY = 10_000;
/** Events per drain step. */
const BATCH = 256;
const RETRY_WRITE_MS = 1000;

export interface IndexerOptions {
  readonly store: SearchStore;
  readonly readLog: LogReader;
  readonly clock: Clock;
  readonly log: Logger;
  /** How often the marks are looked at (ms). */
  readonly pollMs: number;
  readonly capacity?: number;
}

export class Indexer {
  readonly #o: IndexerOptions;
  readonly #cursors: Cursors;
  readonly catchUp: CatchUp;
  readonly #capacity: number;
  #queue: FeedEvent[] = [];
  #writing: Promise<void> | null = null;
  #retryTimer: TimerId | null = null;
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
    this.#kick();
  }

  /** Events waiting in memory. */
  get backlog(): number {
    return this.#queue.length;
  }

  /** Resolves once everything pushed so far is in the index (or has failed to be). */
  async flushed(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer !== null) this.#o.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
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
    this.#writing = this.#drain().finally(() => {
      this.#writing = null;
      if (this.#queue.length && !this.#stopped && this.#retryTimer === null) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length) {
      const batch = this.#queue.splice(0, BATCH);
      try {
        await this.#o.store.take(batch);
        await this.#cursors.advance(batch);
      } catch (err) {
        // KV refused a write: keep the batch first in line and try again shortly.
        this.#queue.unshift(...batch);
        this.#o.log.error("search index write failed; retrying", { err });
        if (this.#stopped) return;
        this.#retryTimer = this.#o.clock.setTimeout(() => {
          this.#retryTimer = null;
          this.#kick();
        }, RETRY_WRITE_MS);
        return;
      }
    }
    this.#overflowing = false;
  }
}
