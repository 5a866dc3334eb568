/**
 * Sends what is due in the KV outbox. A node claims a delivery with an atomic check (attempts
 * + 1, lease until the try's timeout has passed, due index moved to the lease's end), tries it,
 * and settles it with a check on its claim: delivered (removed), retry (due again after a
 * backoff), or dead letter. A node that dies mid-try leaves the lease to run out; then any node
 * takes the delivery over, so nothing stored is lost, and a try may at worst be repeated (the
 * delivery id lets receivers drop the repeat). Timers run on the injected clock.
 */
import type { Logger } from "../../log.ts";
import type { Clock, TimerId } from "../../runtime/clock.ts";
import { attempt, backoffMs, type Outcome } from "./attempt.ts";
import {
  type DeadReason,
  type Delivery,
  K,
  type Subscription,
  type WebhookStore,
} from "./store.ts";

/** Extra lease beyond the try's timeout (signing, settling). */
const LEASE_SLACK_MS = 5_000;

export interface DispatcherOptions {
  readonly store: WebhookStore;
  readonly clock: Clock;
  readonly log: Logger;
  readonly maxAttempts: number;
  readonly backoffMs: number;
  readonly backoffMaxMs: number;
  readonly timeoutMs: number;
  readonly concurrency: number;
  /** How often the outbox is looked at for other nodes' work (dead nodes' leases). */
  readonly pollMs: number;
  readonly random: () => number;
  readonly observe: (r: AttemptRecord) => void;
}

/** What became of one try (or of a delivery that could not be tried). */
export interface AttemptRecord {
  readonly id: string;
  readonly subId: string;
  readonly type: string;
  readonly attempt: number;
  readonly result: "delivered" | "retry" | "dead" | "dropped" | "aborted";
  readonly status: number | null;
  readonly error: string | null;
  readonly at: number;
  /** result `retry`: when the next try is due. */
  readonly nextAt?: number;
  /** result `dead`. */
  readonly reason?: DeadReason;
}

interface Claim {
  readonly d: Delivery;
  readonly versionstamp: string;
  readonly sub: Subscription;
}

export class Dispatcher {
  readonly #o: DispatcherOptions;
  readonly #inflight = new Map<string, Promise<void>>();
  readonly #stop = new AbortController();
  #timer: TimerId | null = null;
  #timerAt = Infinity;
  #pumping: Promise<void> | null = null;
  #again = false;

  constructor(o: DispatcherOptions) {
    this.#o = o;
  }

  /** Something may be due: look at the outbox now. */
  wake(): void {
    if (this.#stop.signal.aborted) return;
    if (this.#pumping) return void (this.#again = true);
    this.#pumping = this.#pump().finally(() => {
      this.#pumping = null;
      // A wake between the pump's last look and this line would otherwise be lost.
      if (this.#again) this.wake();
    });
  }

  /** Resolves when the current look at the outbox is over (its timer armed). */
  async looked(): Promise<void> {
    while (this.#pumping) await this.#pumping;
  }

  /** Stops timers, aborts tries in flight (they are released, not counted) and waits for them. */
  async stop(): Promise<void> {
    this.#stop.abort();
    if (this.#timer !== null) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
    await this.#pumping;
    await Promise.all(this.#inflight.values());
  }

  async #pump(): Promise<void> {
    const { clock, log, pollMs } = this.#o;
    try {
      do {
        this.#again = false;
        await this.#claimDue();
        // A wake while arming sets #again, so it is never lost.
        if (!this.#again && !this.#stop.signal.aborted) await this.#armNext();
      } while (this.#again && !this.#stop.signal.aborted);
    } catch (err) {
      log.error("webhook dispatcher failed; retrying", { err });
      this.#arm(clock.now() + pollMs);
    }
  }

  async #claimDue(): Promise<void> {
    const { store, clock, concurrency } = this.#o;
    const room = concurrency - this.#inflight.size;
    if (room <= 0) return;
    const now = clock.now();
    const due: Array<{ id: string; dueAt: number }> = [];
    const iter = store.kv.list<null>(
      { start: ["wh", "due"], end: ["wh", "due", now + 1] },
      { limit: concurrency + this.#inflight.size },
    );
    for await (const e of iter) {
      const id = e.key[3] as string;
      if (this.#inflight.has(id)) continue;
      due.push({ id, dueAt: e.key[2] as number });
      if (due.length >= room) break;
    }
    if (due.length === 0) return;
    // One read of the subscriptions and one `getMany` per 10 deliveries for the whole round; the
    // claims then run side by side (each is its own checked atomic).
    const subs = new Map((await store.subscriptions()).map((s) => [s.id, s]));
    const current: Deno.KvEntryMaybe<Delivery>[] = [];
    for (let i = 0; i < due.length; i += 10) {
      current.push(
        ...await store.kv.getMany<Delivery[]>(due.slice(i, i + 10).map((x) => K.delivery(x.id))),
      );
    }
    const claims = await Promise.all(
      due.map((x, i) => this.#claim(x.id, x.dueAt, now, current[i], subs)),
    );
    for (const claim of claims) {
      if (!claim || this.#stop.signal.aborted) continue;
      const id = claim.d.id;
      const run = this.#run(claim).finally(() => {
        this.#inflight.delete(id);
        this.wake();
      });
      this.#inflight.set(id, run);
    }
  }

  /** Takes the delivery (`cur`, as read) for one try; null if it is not ours to try (now). */
  async #claim(
    id: string,
    dueAt: number,
    now: number,
    cur: Deno.KvEntryMaybe<Delivery>,
    subs: ReadonlyMap<string, Subscription>,
  ): Promise<Claim | null> {
    const { store, maxAttempts, timeoutMs } = this.#o;
    const d = cur.value;
    if (!d || d.dueAt !== dueAt) {
      // A leftover index entry (its delivery moved on or is gone).
      await store.kv.atomic().check(cur).delete(K.due(dueAt, id)).commit();
      return null;
    }
    const sub = subs.get(d.subId);
    const record = { id, subId: d.subId, type: d.type, attempt: d.attempts, at: now };
    if (!sub || !sub.enabled || d.attempts >= maxAttempts) {
      // Deleted: the delivery goes. Off, or its last try was cut off by a crash: dead letter.
      let op = store.finish(store.kv.atomic().check(cur), d);
      const reason: DeadReason = !sub || sub.enabled ? "max_attempts" : "subscription_disabled";
      if (sub) op = store.bury(op, d, reason, now);
      if (!(await op.commit()).ok) return null;
      const last = { status: d.lastStatus, error: d.lastError };
      this.#o.observe(
        sub ? { ...record, ...last, result: "dead", reason } : {
          ...record,
          ...last,
          result: "dropped",
        },
      );
      return null;
    }
    const lease = now + timeoutMs + LEASE_SLACK_MS;
    const claimed: Delivery = { ...d, attempts: d.attempts + 1, dueAt: lease, leaseUntil: lease };
    const res = await store.kv.atomic()
      .check(cur)
      .delete(K.due(d.dueAt, id))
      .set(K.due(lease, id), null)
      .set(K.delivery(id), claimed)
      .commit();
    return res.ok ? { d: claimed, versionstamp: res.versionstamp, sub } : null;
  }

  async #run(c: Claim): Promise<void> {
    const { clock, timeoutMs, log } = this.#o;
    const outcome = await attempt({
      url: c.sub.url,
      secret: c.sub.secret,
      id: c.d.id,
      type: c.d.type,
      body: c.d.body,
      attempt: c.d.attempts,
      clock,
      timeoutMs,
      stop: this.#stop.signal,
    });
    try {
      await this.#settle(c, outcome);
    } catch (err) {
      // KV failed (or closed by a kill): the lease runs out and the delivery is tried again.
      log.warn("webhook delivery not settled", { id: c.d.id, err });
    }
  }

  async #settle(c: Claim, o: Outcome): Promise<void> {
    const { store, clock, log, maxAttempts } = this.#o;
    const { d } = c;
    const now = clock.now();
    let op = store.kv.atomic().check({ key: K.delivery(d.id), versionstamp: c.versionstamp });
    const base = { id: d.id, subId: d.subId, type: d.type, attempt: d.attempts, at: now };
    let record: AttemptRecord;
    if (o.kind === "delivered") {
      op = store.sent(store.finish(op, d), d, now);
      record = { ...base, result: "delivered", status: o.status, error: null };
    } else if (o.kind === "aborted") {
      op = this.#reschedule(op, d, { ...d, attempts: d.attempts - 1, dueAt: now });
      record = { ...base, result: "aborted", status: null, error: "node stopping" };
    } else {
      const status = o.status;
      const error = o.kind === "gone" ? "HTTP 410 Gone" : o.error;
      const failed: Delivery = { ...d, lastStatus: status, lastError: error };
      if (o.kind === "gone" || d.attempts >= maxAttempts) {
        const reason = o.kind === "gone" ? "gone" : "max_attempts";
        op = store.bury(store.finish(op, d), failed, reason, now);
        record = { ...base, result: "dead", status, error, reason };
      } else {
        const nextAt = now + this.#delay(d.attempts, o.retryAfterMs);
        op = this.#reschedule(op, d, { ...failed, dueAt: nextAt });
        record = { ...base, result: "retry", status, error, nextAt };
      }
    }
    if (!(await op.commit()).ok) {
      log.warn("webhook delivery taken over by another node", { id: d.id });
      return;
    }
    if (o.kind === "gone") await this.#disable(c.sub, now);
    if (record.nextAt !== undefined) this.#arm(record.nextAt);
    this.#o.observe(record);
  }

  /** Puts the claimed `from` back in the outbox as `to` (due at `to.dueAt`). */
  #reschedule(op: Deno.AtomicOperation, from: Delivery, to: Delivery) {
    const next: Delivery = { ...to, leaseUntil: null };
    return op.delete(K.due(from.dueAt, from.id)).set(K.due(next.dueAt, from.id), null)
      .set(K.delivery(from.id), next);
  }

  #delay(attempts: number, retryAfterMs: number | undefined): number {
    const { backoffMs: base, backoffMaxMs: max, random } = this.#o;
    // A 429's Retry-After wins over the backoff, up to the same cap.
    if (retryAfterMs !== undefined) return Math.min(retryAfterMs, max);
    return backoffMs(attempts, base, max, random);
  }

  /** The receiver answered 410 Gone: no more deliveries until an admin turns it back on. */
  async #disable(sub: Subscription, now: number): Promise<void> {
    const reason = "the receiver answered 410 Gone";
    await this.#o.store.update(sub.id, (s) => ({
      ...s,
      enabled: false,
      disabledReason: reason,
      updatedAt: now,
    })).catch((err) => this.#o.log.warn("webhook subscription not disabled", { err }));
    this.#o.log.warn("webhook subscription disabled", { id: sub.id, reason });
  }

  /** Arms the timer for the earliest delivery due later (at most one poll interval away). */
  async #armNext(): Promise<void> {
    const { store, clock, pollMs } = this.#o;
    const now = clock.now();
    let next = now + pollMs;
    const iter = store.kv.list<null>({ prefix: ["wh", "due"] }, {
      limit: this.#inflight.size + 1,
    });
    for await (const e of iter) {
      if (this.#inflight.has(e.key[3] as string)) continue;
      const at = e.key[2] as number;
      // Due now but not taken (no room, or another node has it): completions and polls retry.
      if (at > now) next = Math.min(next, at);
      break;
    }
    this.#arm(next);
  }

  #arm(at: number): void {
    if (this.#stop.signal.aborted) return;
    if (this.#timer !== null && this.#timerAt <= at) return;
    const { clock } = this.#o;
    if (this.#timer !== null) clock.clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = clock.setTimeout(() => {
      this.#timer = null;
      this.#timerAt = Infinity;
      this.wake();
    }, Math.max(0, at - clock.now()));
  }
}
