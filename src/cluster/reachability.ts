/**
 * Whether this node can reach its broker (docs/CLUSTER.md, "Kafka outage"). The broker reports
 * every request that failed for want of the broker (connection refused, reset or timed out) and
 * every request that got an answer; the state turns `unreachable` once failures have gone on for
 * `confirmMs` without a single answer, and `reachable` again at the first answer. Each change is
 * logged once ("Kafka unreachable since …", "Kafka reachable again after … s, N errors"); the
 * failures in between are counted, not logged. Listeners (the cluster node) hear each change.
 */
import type { Clock, TimerId } from "../runtime/clock.ts";
import { SystemClock } from "../runtime/clock.ts";
import type { Logger } from "../log.ts";

/** What the cluster node reads from its broker's reachability. */
export interface BrokerHealth {
  readonly reachable: boolean;
  /** Since when requests have failed without an answer (ms), while unreachable; else null. */
  readonly downSince: number | null;
  /** The first failure of the current outage, while unreachable; else null. */
  readonly reason: string | null;
  /** Calls `listener` at every change; returns the unsubscribe function. */
  onChange(listener: (reachable: boolean) => void): () => void;
}

export interface ReachabilityOptions {
  readonly log: Logger;
  readonly clock?: Clock;
  /** Failures without an answer for this long make the broker unreachable (default 500 ms). */
  readonly confirmMs?: number;
  /** Name in the log lines (default "Kafka"). */
  readonly what?: string;
}

/**
 * A failure that says the broker could not be reached (as opposed to one it answered with an
 * error): refused, reset, timed-out or closed connections, no broker to talk to.
 */
const CONNECTION =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|Connection (error|timeout|closed|refused)|Closed connection|connection.*(closed|reset)|KafkaJSConnection|socket hang up|Request .*timed out|KafkaJSRequestTimeoutError|KafkaJSBrokerNotFound|KafkaJSNoBrokerAvailable|No brokers? (are )?available|broker is down/i;

/** The text of an error and its causes, for classification and log lines. */
export function errorChain(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let i = 0; i < 5 && e !== undefined && e !== null; i++) {
    if (e instanceof Error) {
      parts.push(`${e.name}: ${e.message}`);
      e = (e as { cause?: unknown }).cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(" <- ");
}

/** True when `err` (or a cause of it, or a log text) says the broker could not be reached. */
export function isConnectionFailure(err: unknown): boolean {
  return CONNECTION.test(typeof err === "string" ? err : errorChain(err));
}

export class Reachability implements BrokerHealth {
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #confirmMs: number;
  readonly #what: string;
  readonly #listeners = new Set<(reachable: boolean) => void>();
  #reachable = true;
  #downSince: number | null = null;
  #reason: string | null = null;
  /** First failure since the last answer, while not yet confirmed. */
  #failingSince: number | null = null;
  #firstFailure: string | null = null;
  #timer: TimerId | null = null;
  /** Failures in the current outage (or the current unconfirmed run of them). */
  #run = 0;
  /** Failures counted (never logged one by one), and outages seen. */
  readonly counts = { errors: 0, outages: 0, quieted: 0 };

  constructor(o: ReachabilityOptions) {
    this.#log = o.log;
    this.#clock = o.clock ?? new SystemClock();
    this.#confirmMs = o.confirmMs ?? 500;
    this.#what = o.what ?? "Kafka";
  }

  get reachable(): boolean {
    return this.#reachable;
  }

  get downSince(): number | null {
    return this.#downSince;
  }

  get reason(): string | null {
    return this.#reason;
  }

  onChange(listener: (reachable: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A request failed because the broker could not be reached. Counted, never logged alone. */
  failed(reason: string): void {
    this.counts.errors++;
    this.#run++;
    if (!this.#reachable || this.#failingSince !== null) return;
    this.#failingSince = this.#clock.now();
    this.#firstFailure = reason;
    this.#timer = this.#clock.setTimeout(() => this.#confirm(), this.#confirmMs);
  }

  /**
   * Whether a log line or error about the broker is a consequence of failures already counted
   * (while unreachable, or while failures wait for their confirmation): then it is counted here
   * instead of logged.
   */
  quiet(): boolean {
    if (this.#reachable && this.#failingSince === null) return false;
    this.counts.quieted++;
    return true;
  }

  /** A request got an answer from the broker. */
  succeeded(): void {
    if (this.#failingSince !== null) {
      // Failures that an answer ended before they were confirmed: a blip, not an outage.
      if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
      this.#timer = null;
      this.#log.debug(`${this.#what}: connection failures, then an answer`, {
        failures: this.#run,
        first: this.#firstFailure,
        quieted: this.counts.quieted,
      });
      this.#failingSince = null;
      this.#firstFailure = null;
      this.#run = 0;
    }
    if (this.#reachable) return;
    const since = this.#downSince!;
    const seconds = Math.round((this.#clock.now() - since) / 100) / 10;
    this.#log.warn(`${this.#what} reachable again after ${seconds} s, ${this.#run} errors`, {
      since: new Date(since).toISOString(),
      errors: this.#run,
      quieted: this.counts.quieted,
    });
    this.#reachable = true;
    this.#downSince = null;
    this.#reason = null;
    this.#run = 0;
    this.#notify(true);
  }

  /** Stops the confirmation timer (the broker closes). */
  close(): void {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    this.#listeners.clear();
  }

  #confirm(): void {
    this.#timer = null;
    if (this.#failingSince === null) return;
    this.#reachable = false;
    this.#downSince = this.#failingSince;
    this.#reason = this.#firstFailure;
    this.#failingSince = null;
    this.#firstFailure = null;
    this.counts.outages++;
    this.#log.error(
      `${this.#what} unreachable since ${new Date(this.#downSince).toISOString()}: ` +
        "commands for other nodes fail at once with `unavailable` until it answers again; " +
        "repeated errors are counted, not logged",
      { reason: this.#reason, errors: this.#run },
    );
    this.#notify(false);
  }

  #notify(reachable: boolean): void {
    for (const l of [...this.#listeners]) {
      try {
        l(reachable);
      } catch (err) {
        this.#log.error(`${this.#what}: a reachability listener failed`, { err });
      }
    }
  }
}
