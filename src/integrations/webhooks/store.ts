/**
 * Webhook state in the shared KV, so every node sees the same subscriptions, outbox and dead
 * letters:
 *
 * - `["wh","sub",id]` → {@link Subscription};
 * - `["wh","d",id]` → {@link Delivery} (the outbox; one per pending delivery);
 * - `["wh","due",at,id]` → null: when the delivery is next due (or when its lease ends);
 * - `["wh","pending"]` → `KvU64`, the outbox size, changed in the same atomics as the outbox;
 * - `["wh","dead",deadAt,id]` → {@link DeadLetter}, `["wh","deadix",id]` → deadAt (both expire);
 * - `["wh","sent",id]` → sentAt: a delivered delivery's tombstone (expires after
 *   {@link SENT_TTL_MS}), so an event taken in again (catch-up) is not sent twice;
 * - `["wh","cur",chatId]` → seq: the intake's cursor, every event of the chat up to it is taken in
 *   (see src/integrations/feed.ts; one small record per chat that ever had an event, kept with
 *   the chat).
 */
import { AppError } from "../../errors.ts";
import type { WebhookEventType } from "./events.ts";

export const MAX_SUBSCRIPTIONS = 100;

export interface Subscription {
  readonly id: string;
  readonly url: string;
  readonly events: readonly WebhookEventType[];
  readonly secret: string;
  readonly enabled: boolean;
  readonly description: string | null;
  /** Why it was turned off (an admin, or the receiver answered 410 Gone). */
  readonly disabledReason: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /**
   * When it was last turned on (absent in records from before it existed: `createdAt`). Events
   * older than this are not caught up for it (src/integrations/feed.ts).
   */
  readonly enabledAt?: number;
}

export interface Delivery {
  readonly id: string;
  readonly subId: string;
  readonly type: WebhookEventType;
  readonly chatId: string;
  readonly seq: number;
  /** The exact JSON sent (signed as is). */
  readonly body: string;
  /** Tries started so far (counted when a node claims it, so a crash mid-try counts). */
  readonly attempts: number;
  readonly dueAt: number;
  readonly createdAt: number;
  /** A node is trying it until then; after that any node may take it over. */
  readonly leaseUntil: number | null;
  readonly lastStatus: number | null;
  readonly lastError: string | null;
}

export type DeadReason = "max_attempts" | "gone" | "subscription_disabled" | "outbox_full";

export interface DeadLetter {
  readonly delivery: Delivery;
  readonly reason: DeadReason;
  readonly deadAt: number;
  readonly expiresAt: number;
}

const SUB = "sub";
export const K = {
  sub: (id: string) => ["wh", SUB, id],
  delivery: (id: string) => ["wh", "d", id],
  due: (at: number, id: string) => ["wh", "due", at, id],
  pending: ["wh", "pending"],
  dead: (at: number, id: string) => ["wh", "dead", at, id],
  deadIndex: (id: string) => ["wh", "deadix", id],
  sent: (id: string) => ["wh", "sent", id],
  cursor: (chatId: string) => ["wh", "cur", chatId],
} as const;

/** How long a delivered delivery's id is remembered against a second intake of its event. */
export const SENT_TTL_MS = 7 * 24 * 3_600_000;

/** `sum` wraps modulo 2^64, so adding 2^64 − 1 subtracts one. */
const MINUS_ONE = (1n << 64n) - 1n;

export class WebhookStore {
  readonly kv: Deno.Kv;
  readonly deadTtlMs: number;

  constructor(kv: Deno.Kv, deadTtlMs: number) {
    this.kv = kv;
    this.deadTtlMs = deadTtlMs;
  }

  // ---- subscriptions ----

  async subscriptions(): Promise<Subscription[]> {
    const out: Subscription[] = [];
    const iter = this.kv.list<Subscription>({ prefix: ["wh", SUB] }, { limit: MAX_SUBSCRIPTIONS });
    for await (const e of iter) out.push(e.value);
    return out.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  async enabledSubscriptions(): Promise<Subscription[]> {
    return (await this.subscriptions()).filter((s) => s.enabled);
  }

  async subscription(id: string): Promise<Subscription> {
    const e = await this.kv.get<Subscription>(K.sub(id));
    if (!e.value) throw new AppError("not_found", `No webhook subscription ${id}`);
    return e.value;
  }

  async create(sub: Subscription): Promise<void> {
    if ((await this.subscriptions()).length >= MAX_SUBSCRIPTIONS) {
      throw new AppError("invalid_state", `At most ${MAX_SUBSCRIPTIONS} webhook subscriptions`);
    }
    await this.kv.set(K.sub(sub.id), sub);
  }

  /** Applies `change` to the stored subscription (retried if another writer got in first). */
  async update(id: string, change: (s: Subscription) => Subscription): Promise<Subscription> {
    for (let tries = 0; tries < 5; tries++) {
      const cur = await this.kv.get<Subscription>(K.sub(id));
      if (!cur.value) throw new AppError("not_found", `No webhook subscription ${id}`);
      const next = change(cur.value);
      const res = await this.kv.atomic().check(cur).set(K.sub(id), next).commit();
      if (res.ok) return next;
    }
    throw new AppError("overloaded", `Webhook subscription ${id} is changing too often`);
  }

  /** Its pending deliveries are dropped when a node next picks them up. */
  async remove(id: string): Promise<void> {
    await this.subscription(id);
    await this.kv.delete(K.sub(id));
  }

  // ---- outbox ----

  /** Deliveries waiting (or in flight) across all nodes. */
  async pendingCount(): Promise<number> {
    const v = (await this.kv.get<Deno.KvU64>(K.pending)).value?.value ?? 0n;
    // A value past 2^63 could only come from an unmatched decrement; count it as empty.
    return v >= 1n << 63n ? 0 : Number(v);
  }

  /**
   * Adds `d` to the outbox unless a delivery with its id is already there; a `fresh` one (from
   * the intake) also unless it was delivered lately or is a dead letter. Three checks at most.
   */
  enqueue(op: Deno.AtomicOperation, d: Delivery, fresh = false): Deno.AtomicOperation {
    if (fresh) {
      op = op.check({ key: K.sent(d.id), versionstamp: null })
        .check({ key: K.deadIndex(d.id), versionstamp: null });
    }
    return op
      .check({ key: K.delivery(d.id), versionstamp: null })
      .set(K.delivery(d.id), d)
      .set(K.due(d.dueAt, d.id), null)
      .sum(K.pending, 1n);
  }

  /** Takes the claimed `d` (due index at `dueAt`) out of the outbox. */
  finish(op: Deno.AtomicOperation, d: Delivery): Deno.AtomicOperation {
    return op
      .delete(K.delivery(d.id))
      .delete(K.due(d.dueAt, d.id))
      .sum(K.pending, MINUS_ONE);
  }

  /** Remembers that `d` was delivered (see {@link SENT_TTL_MS}). */
  sent(op: Deno.AtomicOperation, d: Delivery, now: number): Deno.AtomicOperation {
    return op.set(K.sent(d.id), now, { expireIn: SENT_TTL_MS });
  }

  /** Stores `d` as a dead letter (kept for the configured time). */
  bury(op: Deno.AtomicOperation, d: Delivery, reason: DeadReason, now: number) {
    const letter: DeadLetter = {
      delivery: { ...d, leaseUntil: null },
      reason,
      deadAt: now,
      expiresAt: now + this.deadTtlMs,
    };
    const expireIn = this.deadTtlMs;
    return op
      .set(K.dead(now, d.id), letter, { expireIn })
      .set(K.deadIndex(d.id), now, { expireIn });
  }

  // ---- dead letters ----

  /** Newest first; `cursor` continues a previous page. */
  async deadLetters(limit: number, cursor?: string) {
    const iter = this.kv.list<DeadLetter>({ prefix: ["wh", "dead"] }, {
      limit,
      reverse: true,
      ...(cursor ? { cursor } : {}),
    });
    const letters: DeadLetter[] = [];
    try {
      for await (const e of iter) letters.push(e.value);
    } catch (err) {
      // KV refuses a cursor it did not make (or one of another listing).
      if (cursor && err instanceof TypeError) {
        throw new AppError("invalid_payload", "Invalid query: cursor: not from a previous page");
      }
      throw err;
    }
    return { letters, cursor: letters.length === limit ? iter.cursor : null };
  }

  async deadLetter(id: string): Promise<{ letter: DeadLetter; at: number }> {
    const ix = await this.kv.get<number>(K.deadIndex(id));
    const e = ix.value === null ? null : await this.kv.get<DeadLetter>(K.dead(ix.value, id));
    if (!e?.value) throw new AppError("not_found", `No dead letter ${id}`);
    return { letter: e.value, at: ix.value! };
  }

  async deleteDeadLetter(id: string): Promise<void> {
    const { at } = await this.deadLetter(id);
    await this.kv.atomic().delete(K.dead(at, id)).delete(K.deadIndex(id)).commit();
  }

  /**
   * Moves a dead letter back into the outbox with its id and body, due now and with fresh tries.
   * Refused while the subscription is gone or off, or the outbox is full.
   */
  async replay(id: string, now: number, maxPending: number): Promise<Delivery> {
    const { letter, at } = await this.deadLetter(id);
    const sub = await this.kv.get<Subscription>(K.sub(letter.delivery.subId));
    if (!sub.value) {
      throw new AppError("not_found", `Subscription ${letter.delivery.subId} no longer exists`);
    }
    if (!sub.value.enabled) {
      throw new AppError("invalid_state", `Enable subscription ${sub.value.id} before replaying`);
    }
    if (await this.pendingCount() >= maxPending) {
      throw new AppError("overloaded", "The webhook outbox is full; replay later");
    }
    const d: Delivery = {
      ...letter.delivery,
      attempts: 0,
      dueAt: now,
      leaseUntil: null,
      lastStatus: null,
      lastError: null,
    };
    const op = this.enqueue(this.kv.atomic(), d).delete(K.dead(at, id)).delete(K.deadIndex(id));
    if (!(await op.commit()).ok) {
      throw new AppError("invalid_state", `Delivery ${id} is already waiting to be sent`);
    }
    return d;
  }
}
