/**
 * A lease in KV: at most one holder at a time, for work that must run on one node of a cluster
 * (the Telegram long-poller). The record says who holds it until when (on the injected clock);
 * taking or renewing it is an atomic write checked against the versionstamp just read, so two
 * nodes racing for a free or expired lease cannot both win. The holder renews it well before it
 * expires; a holder that died stops renewing and the lease is taken over after it expires.
 *
 * The holder's writes can be fenced with {@link KvLease.fence}: they then fail once someone else
 * has taken the lease, so a paused, outdated holder cannot overwrite its successor's progress.
 */
import type { Clock } from "../../runtime/clock.ts";

export interface LeaseRecord {
  readonly holder: string;
  /** Expiry, ms since the epoch on the holders' clocks. */
  readonly until: number;
}

export class KvLease {
  readonly #kv: Deno.Kv;
  readonly #key: Deno.KvKey;
  readonly #ttlMs: number;
  readonly #clock: Clock;
  /** Versionstamp of our own record while we hold the lease. */
  #stamp: string | null = null;
  #until = 0;

  constructor(
    kv: Deno.Kv,
    key: Deno.KvKey,
    readonly holder: string,
    ttlMs: number,
    clock: Clock,
  ) {
    this.#kv = kv;
    this.#key = key;
    this.#ttlMs = ttlMs;
    this.#clock = clock;
  }

  /** Whether we hold the lease, as far as we know (it has not expired on our clock). */
  get held(): boolean {
    return this.#stamp !== null && this.#clock.now() < this.#until;
  }

  /**
   * Takes the lease when it is free, expired or already ours (then renews it). Resolves whether
   * we hold it now.
   */
  async acquire(): Promise<boolean> {
    const current = await this.#kv.get<LeaseRecord>(this.#key);
    const now = this.#clock.now();
    const other = current.value && current.value.holder !== this.holder;
    if (other && current.value!.until > now) return this.#lost();
    const until = now + this.#ttlMs;
    const res = await this.#kv.atomic()
      .check(current)
      .set(this.#key, { holder: this.holder, until } satisfies LeaseRecord)
      .commit();
    if (!res.ok) return this.#lost();
    this.#stamp = res.versionstamp;
    this.#until = until;
    return true;
  }

  /** Adds a check that we still hold the lease (no one renewed or took it since we last did). */
  fence(op: Deno.AtomicOperation): Deno.AtomicOperation {
    return op.check({ key: this.#key, versionstamp: this.#stamp });
  }

  /** Gives the lease up (clean stop), so another node takes over without waiting for expiry. */
  async release(): Promise<void> {
    if (this.#stamp === null) return;
    await this.#kv.atomic().check({ key: this.#key, versionstamp: this.#stamp }).delete(this.#key)
      .commit();
    this.#lost();
  }

  #lost(): false {
    this.#stamp = null;
    this.#until = 0;
    return false;
  }
}
