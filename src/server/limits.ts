/**
 * What one user may hold and send, whatever the transport and however many times they reconnect:
 * open connections (reserved synchronously, so connections that arrive together cannot all slip
 * past the check) and the frame budgets (every inbound frame, parsable or not, counts; chat
 * messages also count against their own budget). Keyed by the user (kind and id), so the budget
 * belongs to who the token proves, not to a socket a reconnect would replace.
 *
 * Bounded: at most `maxTracked` users are remembered; past it, entries of users without open
 * connections are forgotten, those whose buckets are full first (forgetting them loses nothing).
 */
import type { UserKey } from "../auth/principal.ts";
import { TokenBucket } from "./rate_limit.ts";

export interface LimitsOptions {
  readonly maxConnections: number;
  readonly messagesPerMin: number;
  readonly framesPerMin: number;
  readonly now: () => number;
  readonly maxTracked?: number;
}

export interface Budget {
  readonly messages: TokenBucket;
  readonly frames: TokenBucket;
}

interface Entry extends Budget {
  connections: number;
}

export class UserLimits {
  readonly #o: LimitsOptions;
  readonly #max: number;
  readonly #users = new Map<UserKey, Entry>();

  constructor(o: LimitsOptions) {
    this.#o = o;
    this.#max = o.maxTracked ?? 100_000;
  }

  /** Takes a connection slot for `user`; false when they hold the maximum already. */
  reserve(user: UserKey): boolean {
    const e = this.#entry(user);
    if (e.connections >= this.#o.maxConnections) return false;
    e.connections++;
    return true;
  }

  /** Gives back a slot taken by {@link reserve}. */
  release(user: UserKey): void {
    const e = this.#users.get(user);
    if (e && e.connections > 0) e.connections--;
  }

  connections(user: UserKey): number {
    return this.#users.get(user)?.connections ?? 0;
  }

  /** The user's frame budgets (shared by all their connections). */
  budget(user: UserKey): Budget {
    return this.#entry(user);
  }

  get tracked(): number {
    return this.#users.size;
  }

  #entry(user: UserKey): Entry {
    let e = this.#users.get(user);
    if (e) {
      // Most recently used last, so eviction meets the idle ones first.
      this.#users.delete(user);
      this.#users.set(user, e);
      return e;
    }
    e = {
      connections: 0,
      messages: new TokenBucket(this.#o.messagesPerMin, this.#o.now),
      frames: new TokenBucket(this.#o.framesPerMin, this.#o.now),
    };
    this.#users.set(user, e);
    if (this.#users.size > this.#max) this.#evict();
    return e;
  }

  #evict(): void {
    const over = () => this.#users.size > this.#max * 0.9;
    for (const pass of [true, false]) {
      for (const [key, e] of this.#users) {
        if (!over()) return;
        if (e.connections > 0) continue;
        if (pass && !(e.messages.full && e.frames.full)) continue;
        this.#users.delete(key);
      }
    }
  }
}
