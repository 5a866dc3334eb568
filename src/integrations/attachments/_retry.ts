/**
 * One storage request with a timeout and retries: 5xx, 429 (S3's `SlowDown` is a 503) and
 * network failures are retried with exponential backoff (a `Retry-After` is honoured, capped);
 * other statuses are final. Timers run on the injected clock (src/util/retry.ts), so tests drive
 * them by hand.
 */
import { AppError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { Clock } from "../../runtime/clock.ts";
import {
  backoffMs,
  fetchWithTimeout,
  parseRetryAfter,
  sleep,
  TimeoutError,
} from "../../util/retry.ts";

export interface RetryPolicy {
  readonly timeoutMs: number;
  readonly maxRetries: number;
  /** First backoff; doubles on each retry. */
  readonly backoffMs: number;
  /** Longest single wait (backoff or Retry-After). */
  readonly maxBackoffMs: number;
}

const RETRYABLE = new Set([429, 500, 502, 503, 504]);

/** The outcome of one attempt: a response, or a reason to try again. */
type Attempt = { res: Response } | { retry: string; after?: number; timedOut?: boolean };

export class StorageRequester {
  readonly #clock: Clock;
  readonly #policy: RetryPolicy;
  readonly #log: Logger;

  constructor(clock: Clock, policy: RetryPolicy, log: Logger) {
    this.#clock = clock;
    this.#policy = policy;
    this.#log = log;
  }

  /**
   * Sends `build()` (a freshly signed request per attempt) until a final answer; throws
   * `timeout` or `unavailable` (both retryable) when the retries run out. The caller reads (or
   * cancels) the returned response's body.
   */
  async send(what: string, build: () => Promise<Request>): Promise<Response> {
    const p = this.#policy;
    let last: Attempt = { retry: "not tried" };
    for (let attempt = 0; attempt <= p.maxRetries; attempt++) {
      if (attempt > 0) await sleep(this.#clock, this.#delay(attempt, last));
      last = await this.#once(await build());
      if ("res" in last) return last.res;
      this.#log.warn("storage request failed", { what, attempt, reason: last.retry });
    }
    if ("timedOut" in last && last.timedOut) {
      throw new AppError("timeout", `Storage did not answer ${what} within ${p.timeoutMs} ms`);
    }
    throw new AppError("unavailable", `Storage is not available for ${what} (${last.retry})`);
  }

  async #once(req: Request): Promise<Attempt> {
    const { timeoutMs, maxBackoffMs } = this.#policy;
    try {
      const res = await fetchWithTimeout(req, {}, { clock: this.#clock, timeoutMs });
      if (!RETRYABLE.has(res.status)) return { res };
      const code = await errorCode(res);
      const after = parseRetryAfter(
        res.headers.get("retry-after"),
        this.#clock.now(),
        maxBackoffMs,
      );
      return { retry: `${res.status}${code ? ` ${code}` : ""}`, after: after ?? undefined };
    } catch (err) {
      if (err instanceof TimeoutError) return { retry: "timed out", timedOut: true };
      return { retry: `network error: ${(err as Error).message}` };
    }
  }

  /** Exponential backoff, or the server's Retry-After when longer; never over the cap. */
  #delay(attempt: number, last: Attempt): number {
    const p = this.#policy;
    const hinted = "after" in last ? last.after ?? 0 : 0;
    const backoff = backoffMs(attempt, { baseMs: p.backoffMs, maxMs: p.maxBackoffMs });
    return Math.min(Math.max(backoff, hinted), p.maxBackoffMs);
  }
}

/** The S3 error `<Code>` of a response body (read fully, so the connection is released). */
export async function errorCode(res: Response): Promise<string | null> {
  const text = await res.text().catch(() => "");
  return /<Code>([^<]{1,64})<\/Code>/.exec(text)?.[1] ?? null;
}
