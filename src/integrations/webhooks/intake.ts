/**
 * From chat events to stored deliveries: each event that a webhook carries becomes one delivery
 * per matching, enabled subscription, written to the KV outbox before any try is made. Events
 * wait in a bounded in-memory list only while a batch is being written (one writer per node);
 * when the outbox holds `maxPending` deliveries, new ones become dead letters (`outbox_full`).
 */
import type { Logger } from "../../log.ts";
import type { Clock } from "../../runtime/clock.ts";
import type { ChatEventNotice } from "../../server/chat_service.ts";
import { deliveryId, webhookEvent, type WebhookPayload } from "./events.ts";
import type { Delivery, Subscription, WebhookStore } from "./store.ts";

/** Events held in memory while KV writes catch up; more are dropped (and logged). */
export const INTAKE_CAPACITY = 10_000;
const BATCH = 64;
/** Deliveries per atomic: each costs a check and four mutations, bodies are ≤ ~20 KiB. */
const PER_ATOMIC = 25;
const RETRY_WRITE_MS = 1000;
/** A KV value holds 64 KiB; a body past this cannot be stored (only with a huge MAX_TEXT_LENGTH). */
const MAX_BODY_BYTES = 60_000;

export interface IntakeOptions {
  readonly store: WebhookStore;
  readonly clock: Clock;
  readonly log: Logger;
  readonly maxPending: number;
  /** New deliveries are in the outbox (wake the dispatcher). */
  readonly onStored: () => void;
}

export class Intake {
  readonly #o: IntakeOptions;
  #queue: ChatEventNotice[] = [];
  #writing: Promise<void> | null = null;
  #retryTimer: number | null = null;
  #stopped = false;
  /** Events dropped because the list was full (this process's lifetime). */
  dropped = 0;

  constructor(o: IntakeOptions) {
    this.#o = o;
  }

  push(n: ChatEventNotice): void {
    if (!webhookEvent(n.event)) return;
    if (this.#queue.length >= INTAKE_CAPACITY) {
      this.dropped++;
      this.#o.log.error("webhook intake full: event dropped", { chat: n.chatId, seq: n.seq });
      return;
    }
    this.#queue.push(n);
    this.#kick();
  }

  /** Resolves once everything pushed so far is stored (or has failed to be). */
  async flushed(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  /** Stops retrying; what is still in memory is logged as lost. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer !== null) this.#o.clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    await this.flushed();
    if (this.#queue.length) {
      this.#o.log.error("webhook events not stored at shutdown", { count: this.#queue.length });
    }
  }

  #kick(): void {
    if (this.#writing || this.#retryTimer !== null) return;
    this.#writing = this.#drain().finally(() => this.#writing = null);
  }

  async #drain(): Promise<void> {
    while (this.#queue.length) {
      const batch: ChatEventNotice[] = [];
      try {
        // One read of the subscriptions per round: events no enabled subscription wants are
        // dropped here in bulk, so a server with no webhooks pays one KV list per round, not a
        // write per event.
        const subs = (await this.#o.store.subscriptions()).filter((s) => s.enabled);
        const wanted = new Set(subs.flatMap((s) => s.events));
        this.#queue = this.#queue.filter((n) => wanted.has(webhookEvent(n.event)!.type));
        batch.push(...this.#queue.splice(0, BATCH));
        if (batch.length) await this.#store(batch, subs);
      } catch (err) {
        // KV refused the write: keep the batch first in line and try again shortly.
        this.#queue.unshift(...batch);
        this.#o.log.error("webhook outbox write failed", { error: err });
        if (this.#stopped) return;
        this.#retryTimer = this.#o.clock.setTimeout(() => {
          this.#retryTimer = null;
          this.#kick();
        }, RETRY_WRITE_MS);
        return;
      }
      if (batch.length) this.#o.onStored();
    }
  }

  async #store(batch: ChatEventNotice[], subs: readonly Subscription[]): Promise<void> {
    const { store, clock } = this.#o;
    const now = clock.now();
    const deliveries: Delivery[] = [];
    for (const n of batch) {
      const ev = webhookEvent(n.event)!;
      for (const sub of subs) {
        if (!sub.events.includes(ev.type)) continue;
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
    if (deliveries.length === 0) return;
    const room = Math.max(0, this.#o.maxPending - await store.pendingCount());
    if (room < deliveries.length) {
      this.#o.log.warn("webhook outbox full: deliveries dead-lettered", {
        count: deliveries.length - room,
      });
    }
    await this.#write(deliveries.slice(0, room), deliveries.slice(room), now);
  }

  async #write(queued: Delivery[], overflow: Delivery[], now: number): Promise<void> {
    const { store } = this.#o;
    for (let i = 0; i < overflow.length; i += PER_ATOMIC) {
      let op = store.kv.atomic();
      for (const d of overflow.slice(i, i + PER_ATOMIC)) op = store.bury(op, d, "outbox_full", now);
      await op.commit();
    }
    for (let i = 0; i < queued.length; i += PER_ATOMIC) {
      const chunk = queued.slice(i, i + PER_ATOMIC);
      let op = store.kv.atomic();
      for (const d of chunk) op = store.enqueue(op, d);
      if ((await op.commit()).ok) continue;
      // Some delivery is already in the outbox (the same event twice): store the others alone.
      for (const d of chunk) await store.enqueue(store.kv.atomic(), d).commit();
    }
  }
}
