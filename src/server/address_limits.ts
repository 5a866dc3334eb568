/**
 * Rate limits for what anyone may do without proof (start a chat, become a visitor): a token
 * bucket per client address and one for all addresses together, on the injected clock. A refusal
 * says how long to wait (`Retry-After`). At most `maxAddresses` are remembered; past it, the
 * addresses whose buckets are full again are forgotten first (that loses nothing), then the
 * least recently seen.
 */
import { TokenBucket } from "./rate_limit.ts";

export interface AddressLimitsOptions {
  readonly perAddressPerMin: number;
  readonly globalPerMin: number;
  readonly now: () => number;
  readonly maxAddresses?: number;
}

export type Admission = { ok: true } | { ok: false; retryAfterS: number; scope: "address" | "all" };

export class AddressLimits {
  readonly #o: AddressLimitsOptions;
  readonly #max: number;
  readonly #global: TokenBucket;
  readonly #byAddress = new Map<string, TokenBucket>();

  constructor(o: AddressLimitsOptions) {
    this.#o = o;
    this.#max = o.maxAddresses ?? 100_000;
    this.#global = new TokenBucket(o.globalPerMin, o.now);
  }

  /** Takes one from the address's bucket and the global one, or says how long to wait. */
  take(address: string): Admission {
    let bucket = this.#byAddress.get(address);
    if (bucket) {
      this.#byAddress.delete(address);
    } else {
      bucket = new TokenBucket(this.#o.perAddressPerMin, this.#o.now);
      if (this.#byAddress.size >= this.#max) this.#evict();
    }
    this.#byAddress.set(address, bucket);
    const wait = bucket.waitMs();
    if (wait > 0) return { ok: false, retryAfterS: Math.ceil(wait / 1000), scope: "address" };
    const all = this.#global.waitMs();
    if (all > 0) return { ok: false, retryAfterS: Math.ceil(all / 1000), scope: "all" };
    bucket.take();
    this.#global.take();
    return { ok: true };
  }

  get tracked(): number {
    return this.#byAddress.size;
  }

  #evict(): void {
    const target = Math.floor(this.#max * 0.9);
    for (const [address, bucket] of this.#byAddress) {
      if (this.#byAddress.size <= target) return;
      if (bucket.full) this.#byAddress.delete(address);
    }
    for (const address of this.#byAddress.keys()) {
      if (this.#byAddress.size <= target) return;
      this.#byAddress.delete(address);
    }
  }
}
