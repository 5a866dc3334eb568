/**
 * The webhook engine of one node: chat events in (intake → KV outbox, with the catch-up for
 * whatever the intake's memory lost), deliveries out (dispatcher), and what the admin routes
 * need (subscriptions, dead letters, replay).
 */
import type { Logger } from "../../log.ts";
import type { Clock } from "../../runtime/clock.ts";
import type { WebhookEventType } from "./events.ts";
import { FEED_PREFIX } from "../../../actors/_session_writes.ts";
import { CatchUp, Cursors, type FeedEvent, type LogReader } from "../feed.ts";
import { type AttemptRecord, Dispatcher } from "./dispatcher.ts";
import { Intake } from "./intake.ts";
import { newSecret } from "./sign.ts";
import { type Delivery, K, type Subscription, WebhookStore } from "./store.ts";

export interface WebhookSettings {
  readonly maxAttempts: number;
  readonly backoffMs: number;
  readonly backoffMaxMs: number;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly maxPending: number;
  readonly deadLetterTtlMs: number;
  /** Default 5 s: how soon work left by another (dead) node, or lost events, are noticed. */
  readonly pollMs?: number;
  /** Events the intake holds in memory (default 10,000; tests make it small). */
  readonly intakeCapacity?: number;
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
  readonly catchUp: CatchUp;
  readonly #observers = new Set<(r: AttemptRecord) => void>();

  /** `readLog` reads chats' stored events, for the catch-up. */
  constructor(kv: Deno.Kv, clock: Clock, log: Logger, s: WebhookSettings, readLog: LogReader) {
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
    const cursors = new Cursors(kv, K.cursor);
    const onStored = () => this.#dispatcher.wake();
    this.#intake = new Intake({
      store: this.store,
      cursors,
      clock,
      log,
      maxPending: s.maxPending,
      ...(s.intakeCapacity === undefined ? {} : { capacity: s.intakeCapacity }),
      onStored,
    });
    this.catchUp = new CatchUp({
      kv,
      name: "webhook",
      marks: FEED_PREFIX,
      cursors,
      readLog,
      // Events a lost notice left behind, for the subscriptions enabled at this look.
      prepare: async () => {
        const subs = await this.store.enabledSubscriptions();
        if (subs.length === 0) return null;
        return async (events) => {
          const stored = await this.#intake.take(events, subs, true);
          if (stored) onStored();
          return stored;
        };
      },
      clock,
      log,
      pollMs: s.pollMs ?? 5_000,
    });
  }

  /**
   * Starts sending; resolves once the outbox and the feed marks have been looked at (deliveries
   * left by an earlier run are on their way, or their timer is armed).
   */
  async start(): Promise<void> {
    this.#dispatcher.wake();
    await this.#dispatcher.looked();
    await this.catchUp.start();
  }

  /** A stored chat event (from `ChatService.onChatEvent`); every one, in seq order per chat. */
  publish(n: FeedEvent): void {
    this.#intake.push(n);
  }

  /** Every try's result (tests and diagnostics). */
  onAttempt(listener: (r: AttemptRecord) => void): () => void {
    this.#observers.add(listener);
    return () => this.#observers.delete(listener);
  }

  /** Events the intake's list was too full for (left to the catch-up), this process's lifetime. */
  get intakeLeft(): number {
    return this.#intake.left;
  }

  /** Resolves when every event published so far is in the outbox. */
  flushed(): Promise<void> {
    return this.#intake.flushed();
  }

  async stop(): Promise<void> {
    await this.#intake.stop();
    await this.catchUp.stop();
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
      enabledAt: now,
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
        ...(enabled && !s.enabled ? { enabledAt: now } : {}),
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
