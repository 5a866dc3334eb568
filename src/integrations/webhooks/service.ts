/**
 * The webhook engine of one node: chat events in (intake → KV outbox), deliveries out
 * (dispatcher), and what the admin routes need (subscriptions, dead letters, replay).
 */
import type { Logger } from "../../log.ts";
import type { Clock } from "../../runtime/clock.ts";
import type { ChatEventNotice } from "../../server/chat_service.ts";
import type { WebhookEventType } from "./events.ts";
import { type AttemptRecord, Dispatcher } from "./dispatcher.ts";
import { Intake } from "./intake.ts";
import { newSecret } from "./sign.ts";
import { type Delivery, type Subscription, WebhookStore } from "./store.ts";

export interface WebhookSettings {
  readonly maxAttempts: number;
  readonly backoffMs: number;
  readonly backoffMaxMs: number;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly maxPending: number;
  readonly deadLetterTtlMs: number;
  /** Default 5 s: how soon work left by another (dead) node is noticed. */
  readonly pollMs?: number;
  /** Jitter source (tests may fix it). */
  readonly random?: () => number;
}

export interface NewSubscription {
  readonly url: string;
  readonly events: readonly WebhookEventType[];
  readonly secret?: string;
  readonly description?: string;
  readonly enabled?: boolean;
}

export interface SubscriptionChange {
  readonly url?: string;
  readonly events?: readonly WebhookEventType[];
  readonly description?: string | null;
  readonly enabled?: boolean;
  readonly rotateSecret?: boolean;
}

export class WebhookService {
  readonly store: WebhookStore;
  readonly #clock: Clock;
  readonly #settings: WebhookSettings;
  readonly #intake: Intake;
  readonly #dispatcher: Dispatcher;
  readonly #observers = new Set<(r: AttemptRecord) => void>();

  constructor(kv: Deno.Kv, clock: Clock, log: Logger, s: WebhookSettings) {
    this.#clock = clock;
    this.#settings = s;
    this.store = new WebhookStore(kv, s.deadLetterTtlMs);
    this.#dispatcher = new Dispatcher({
      store: this.store,
      clock,
      log,
      maxAttempts: s.maxAttempts,
      backoffMs: s.backoffMs,
      backoffMaxMs: s.backoffMaxMs,
      timeoutMs: s.timeoutMs,
      concurrency: s.concurrency,
      pollMs: s.pollMs ?? 5_000,
      random: s.random ?? Math.random,
      observe: (r) => {
        for (const o of this.#observers) o(r);
      },
    });
    this.#intake = new Intake({
      store: this.store,
      clock,
      log,
      maxPending: s.maxPending,
      onStored: () => this.#dispatcher.wake(),
    });
  }

  /**
   * Starts sending; resolves once the outbox has been looked at (deliveries left by an earlier
   * run are on their way, or their timer is armed).
   */
  async start(): Promise<void> {
    this.#dispatcher.wake();
    await this.#dispatcher.looked();
  }

  /** A stored chat event (from `ChatService.onChatEvent`). */
  publish(n: ChatEventNotice): void {
    this.#intake.push(n);
  }

  /** Every try's result (tests and diagnostics). */
  onAttempt(listener: (r: AttemptRecord) => void): () => void {
    this.#observers.add(listener);
    return () => this.#observers.delete(listener);
  }

  /** Resolves when every event published so far is in the outbox. */
  flushed(): Promise<void> {
    return this.#intake.flushed();
  }

  async stop(): Promise<void> {
    await this.#intake.stop();
    await this.#dispatcher.stop();
  }

  // ---- admin operations ----

  /** Stores a subscription; the answer carries its secret (shown this once). */
  async subscribe(n: NewSubscription): Promise<Subscription> {
    const now = this.#clock.now();
    const sub: Subscription = {
      id: `wh_${crypto.randomUUID().replaceAll("-", "")}`,
      url: n.url,
      events: [...new Set(n.events)],
      secret: n.secret ?? newSecret(),
      enabled: n.enabled ?? true,
      description: n.description ?? null,
      disabledReason: n.enabled === false ? "disabled by an admin" : null,
      createdAt: now,
      updatedAt: now,
    };
    await this.store.create(sub);
    return sub;
  }

  update(id: string, c: SubscriptionChange): Promise<Subscription> {
    const now = this.#clock.now();
    return this.store.update(id, (s) => {
      const enabled = c.enabled ?? s.enabled;
      return {
        ...s,
        ...(c.url === undefined ? {} : { url: c.url }),
        ...(c.events === undefined ? {} : { events: [...new Set(c.events)] }),
        ...(c.description === undefined ? {} : { description: c.description }),
        ...(c.rotateSecret ? { secret: newSecret() } : {}),
        enabled,
        disabledReason: enabled
          ? null
          : c.enabled === false
          ? "disabled by an admin"
          : s.disabledReason,
        updatedAt: now,
      };
    });
  }

  /** Sends a dead letter again, with its id and body; due at once. */
  async replay(id: string): Promise<Delivery> {
    const d = await this.store.replay(id, this.#clock.now(), this.#settings.maxPending);
    this.#dispatcher.wake();
    return d;
  }
}
