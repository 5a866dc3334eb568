/** Time for the runtime and the actors. Tests use {@link ManualClock} and drive timers by hand. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerId;
  clearTimeout(id: TimerId): void;
}

export type TimerId = number;

/** The longest delay a host timer takes (2^31 − 1 ms, ~24.8 days); longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class SystemClock implements Clock {
  #next = 1;
  /** Our timer id → the host timer running now (a long delay is a chain of host timers). */
  readonly #host = new Map<TimerId, ReturnType<typeof setTimeout>>();

  now(): number {
    return Date.now();
  }
  /** Any delay, also past the host's limit (a token valid for a month). */
  setTimeout(fn: () => void, ms: number): TimerId {
    const id = this.#next++;
    const at = Date.now() + Math.max(0, ms);
    const arm = (left: number) => {
      this.#host.set(
        id,
        setTimeout(() => {
          const rest = at - Date.now();
          if (rest > 0) return arm(rest);
          this.#host.delete(id);
          fn();
        }, Math.min(left, MAX_TIMER_MS)),
      );
    };
    arm(Math.max(0, ms));
    return id;
  }
  clearTimeout(id: TimerId): void {
    const host = this.#host.get(id);
    if (host === undefined) return;
    clearTimeout(host);
    this.#host.delete(id);
  }
}

interface ManualTimer {
  id: TimerId;
  at: number;
  fn: () => void;
}

/** A clock that only moves when {@link ManualClock.advance} is called. */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers: ManualTimer[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): TimerId {
    const id = this.#nextId++;
    this.#timers.push({ id, at: this.#now + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(id: TimerId): void {
    this.#timers = this.#timers.filter((t) => t.id !== id);
  }
  /** Pending timers, for assertions. */
  get pending(): number {
    return this.#timers.length;
  }
  /**
   * Moves time forward by `ms`, firing due timers in time order. Between timers it yields to
   * the event loop so promise chains started by a timer settle before the next one fires.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    while (true) {
      this.#timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.#timers[0];
      if (!next || next.at > target) break;
      this.#timers.shift();
      this.#now = next.at;
      next.fn();
      await settle();
    }
    this.#now = target;
    await settle();
  }
}

/** Lets queued microtasks and I/O callbacks run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setTimeout(r, 0));
}
