/**
 * Time-driven parts of the actor system, on the injected clock: ask deadlines (bucketed, one
 * clock timer for all pending asks) and actor timers (keyed per actor; a new one replaces).
 */
import type { Clock, TimerId } from "./clock.ts";

/** Granularity of ask deadlines; a deadline never fires early, at most this much late. */
export const DEADLINE_TICK_MS = 100;

/** Pending items by deadline; `expire` is called once for each item whose deadline passed. */
export class Deadlines<T> {
  readonly #clock: Clock;
  readonly #expire: (item: T) => void;
  readonly #buckets = new Map<number, Set<T>>();
  #timer: { id: TimerId; at: number } | null = null;

  constructor(clock: Clock, expire: (item: T) => void) {
    this.#clock = clock;
    this.#expire = expire;
  }

  /** Tracks `item` until `deadline`; returns a function that stops tracking it. */
  add(item: T, deadline: number): () => void {
    const at = Math.ceil(deadline / DEADLINE_TICK_MS) * DEADLINE_TICK_MS;
    let set = this.#buckets.get(at);
    if (!set) {
      this.#buckets.set(at, set = new Set());
      if (!this.#timer || at < this.#timer.at) this.#arm(at);
    }
    set.add(item);
    return () => set.delete(item);
  }

  /** Stops the timer and hands back every item still tracked. */
  clear(): T[] {
    if (this.#timer) this.#clock.clearTimeout(this.#timer.id);
    this.#timer = null;
    const left = [...this.#buckets.values()].flatMap((s) => [...s]);
    this.#buckets.clear();
    return left;
  }

  #arm(at: number): void {
    if (this.#timer) this.#clock.clearTimeout(this.#timer.id);
    const id = this.#clock.setTimeout(() => this.#fire(), Math.max(0, at - this.#clock.now()));
    this.#timer = { id, at };
  }

  #fire(): void {
    this.#timer = null;
    const now = this.#clock.now();
    let next = Infinity;
    for (const [at, set] of this.#buckets) {
      if (at > now) {
        next = Math.min(next, at);
        continue;
      }
      this.#buckets.delete(at);
      for (const item of set) this.#expire(item);
    }
    if (next !== Infinity) this.#arm(next);
  }
}

/** Named one-shot timers per owner; setting a key again replaces the earlier timer. */
export class KeyedTimers {
  readonly #clock: Clock;
  readonly #timers = new Map<string, TimerId>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  set(key: string, delayMs: number, fire: () => void): void {
    this.cancel(key);
    const id = this.#clock.setTimeout(() => {
      this.#timers.delete(key);
      fire();
    }, Math.max(0, delayMs));
    this.#timers.set(key, id);
  }

  cancel(key: string): void {
    const id = this.#timers.get(key);
    if (id === undefined) return;
    this.#clock.clearTimeout(id);
    this.#timers.delete(key);
  }

  get size(): number {
    return this.#timers.size;
  }

  /** Cancels every timer whose key starts with `prefix`. */
  cancelPrefix(prefix: string): void {
    for (const key of [...this.#timers.keys()]) if (key.startsWith(prefix)) this.cancel(key);
  }

  clear(): void {
    for (const id of this.#timers.values()) this.#clock.clearTimeout(id);
    this.#timers.clear();
  }
}
