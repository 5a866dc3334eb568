/**
 * From chat events to stored deliveries: each event that a webhook carries becomes one delivery
 * per matching, enabled subscription, written to the KV outbox before any try is made.
 *
 * Every stored event of a chat passes through here in memory (the fast path); once a batch's
 * deliveries are stored, each chat's cursor moves over the events it continues. Events wait in a
 * bounded list only while a batch is being written. Whatever that list loses (a crash, a stop, or
 * events that found it full) is not lost: the chat's feed mark stays ahead of its cursor, and the
 * catch-up (src/integrations/feed.ts) reads those events from the chat's log. When the outbox
 * holds `maxPending` deliveries, new ones become dead letters (`outbox_full`).
 */
import type { Logger } from "../../log.ts";
import type { Clock } from "../../runtime/clock.ts";
import type { Cursors, FeedEvent } from "../feed.ts";
import { deliveryId, webhookEvent, type WebhookPayload } from "./events.ts";
import type { Delivery, Subscription, WebhookStore } from "./store.ts";

/** Events held in memory while KV writes catch up; more are left to the catch-up. */
export const INTAKE_CAPACITY = 10_000;
const BATCH = 256;
/** Deliveries per atomic: each costs three checks and four mutations, bodies are ≤ ~20 KiB. */
const PER_ATOMIC = 25;
const RETRY_WRITE_MS = 1000;
/** A KV value holds 64 KiB; a body past this cannot be stored (only with a huge MAX_TEXT_LENGTH). */
const MAX_BODY_BYTES = 60_000;

export interface IntakeOptions {
  readonly store: WebhookStore;
  readonly cursors: Cursors;
  readonly clock: Clock;
  readonly log: Logger;
  readonly maxPending: number;
  /** Events held in memory at most (default {@link INTAKE_CAPACITY}). */
  readonly capacity?: number;
  /** New deliveries are in the outbox (wake the dispatcher). */
  readonly onStored: () => void;
}

export class Intake {
  readonly #o: IntakeOptions;
  readonly #capacity: number;
  #queue: FeedEvent[] = [];
  #writing: Promise<void> | null = null;
  #retryTimer: number | null = null;
  #stopped = false;
  #overflowing = false;
  /** Events left to the catch-up because the list was full (this process's lifetime). */
  left = 0;

  constructor(o: IntakeOptions) {
    this.#o = o;
    this.#capacity = o.capacity ?? INTAKE_CAPACITY;
  }

  push(n: FeedEvent): void {
    if (this.#queue.length >= this.#capacity) {
      this.left++;
      if (!this.#overflowing) {
        this.#overflowing = true;
        this.#o.log.warn("webhook intake full: events left to the catch-up", {
          chat: n.chatId,
          seq: n.seq,
        });
      }
      return;
    }
    this.#queue.push(n);
    this.#kick();
  }

  /** Resolves once everything pushed so far is stored (or has failed to be). */
  async flushed(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  /** Stops retrying; what is still in memory is left to the catch-up of the next start. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer !== null) this.#o.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    await this.flushed();
    if (this.#queue.length) {
      this.#o.log.info("webhook events left to the catch-up at shutdown", {
        count: this.#queue.length,
      });
    }
  }

  #kick(): void {
    if (this.#writing || this.#retryTimer !== null) return;
    this.#writing = this.#drain().finally(() => {
      this.#writing = null;
      // A push between the drain's last look at the list and here found it still writing.
      if (this.#queue.length && !this.#stopped) this.#kick();
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length) {
      let batch: FeedEvent[] = [];
      let stored = 0;
      try {
        // One read of the subscriptions per round. With none enabled the list is dropped in
        // bulk and the cursors are left behind: the catch-up moves them without reading a log.
        const subs = await this.#o.store.enabledSubscriptions();
        if (subs.length === 0) {
          this.#queue = [];
          break;
        }
        batch = this.#queue.splice(0, BATCH);
        stored = await this.take(batch, subs);
        await this.#o.cursors.advance(batch);
      } catch (err) {
        // KV refused a write: keep the batch first in line and try again shortly (deliveries
        // already stored are recognised by their ids).
        this.#queue.unshift(...batch);
        this.#o.log.error("webhook outbox write failed", { err });
        if (this.#stopped) return;
        this.#retryTimer = this.#o.clock.setTimeout(() => {
          this.#retryTimer = null;
          this.#kick();
        }, RETRY_WRITE_MS);
        return;
      }
      if (stored) this.#o.onStored();
    }
    this.#overflowing = false;
  }

  /**
   * Stores the deliveries of `events` for `subs`; returns how many went into the outbox. The
   * catch-up (`late`) skips events from before a subscription was (last) turned on: a new
   * subscription does not get a chat's past, nor a re-enabled one what happened while it was off.
   */
  async take(
    events: readonly FeedEvent[],
    subs: readonly Subscription[],
    late = false,
  ): Promise<number> {
    const { store, clock } = this.#o;
    const now = clock.now();
    const deliveries: Delivery[] = [];
    for (const n of events) {
      const ev = webhookEvent(n.event);
      if (!ev) continue;
      for (const sub of subs) {
        if (!sub.events.includes(ev.type) || (late && n.at < (sub.enabledAt ?? sub.createdAt))) {
          continue;
        }
        const id = await deliveryId(sub.id, n.chatId, n.seq);
        const payload: WebhookPayload = {
          id,
          type: ev.type,
          created_at: new Date(n.at).toISOString(),
          chat_id: n.chatId,
          seq: n.seq,
          data: ev.data,
        };
        const body = JSON.stringify(payload);
        if (new TextEncoder().encode(body).length > MAX_BODY_BYTES) {
          this.#o.log.error("webhook body too large to store", { chat: n.chatId, seq: n.seq });
          continue;
        }
        deliveries.push({
          id,
          subId: sub.id,
          type: ev.type,
          chatId: n.chatId,
          seq: n.seq,
          body,
          attempts: 0,
          dueAt: now,
          createdAt: now,
          leaseUntil: null,
          lastStatus: null,
          lastError: null,
        });
      }
    }
    if (deliveries.length === 0) return 0;
    const room = Math.max(0, this.#o.maxPending - await store.pendingCount());
    if (room < deliveries.length) {
      this.#o.log.warn("webhook outbox full: deliveries dead-lettered", {
        count: deliveries.length - room,
      });
    }
    return await this.#write(deliveries.slice(0, room), deliveries.slice(room), now);
  }

  async #write(queued: Delivery[], overflow: Delivery[], now: number): Promise<number> {
    const { store } = this.#o;
    for (let i = 0; i < overflow.length; i += PER_ATOMIC) {
      let op = store.kv.atomic();
      for (const d of overflow.slice(i, i + PER_ATOMIC)) op = store.bury(op, d, "outbox_full", now);
      await op.commit();
    }
    let stored = 0;
    for (let i = 0; i < queued.length; i += PER_ATOMIC) {
      const chunk = queued.slice(i, i + PER_ATOMIC);
      let op = store.kv.atomic();
      for (const d of chunk) op = store.enqueue(op, d, true);
      if ((await op.commit()).ok) {
        stored += chunk.length;
        continue;
      }
      // Some delivery is already in the outbox, sent or dead (the same event taken in twice):
      // store the others alone.
      for (const d of chunk) {
        if ((await store.enqueue(store.kv.atomic(), d, true).commit()).ok) stored++;
      }
    }
    return stored;
  }
}
