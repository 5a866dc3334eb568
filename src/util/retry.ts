/**
 * Waiting and giving up, in one place and on the injected clock: exponential backoff (with
 * optional jitter), `Retry-After` (seconds or an HTTP date, capped), sleeps that a stop cuts
 * short, and timeouts for any async work — `fetch` included — so tests drive every wait with a
 * `ManualClock`. Used by the webhooks, Telegram, the S3 store and the LLM client.
 */
import type { Clock } from "../runtime/clock.ts";

export interface BackoffOptions {
  /** The first delay (attempt 1). */
  readonly baseMs: number;
  /** No delay is longer. */
  readonly maxMs: number;
  /**
   * With a source of randomness, "equal jitter": a delay is 50–100 % of the exponential value,
   * so peers that failed together are not retried in lockstep. Without, the exact value.
   */
  readonly random?: () => number;
}

/** Delay before retry number `attempt` (1 = the first retry): `base · 2^(attempt−1)`, capped. */
export function backoffMs(attempt: number, o: BackoffOptions): number {
  const exp = Math.min(o.maxMs, o.baseMs * 2 ** Math.min(Math.max(0, attempt - 1), 52));
  return o.random ? Math.round(exp / 2 + o.random() * (exp / 2)) : exp;
}

const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
/** RFC 9110 §5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms (all UTC). */
const IMF_FIXDATE = new RegExp(`^${DAY}, \\d{2} ${MONTH} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT$`);
const RFC850 = new RegExp(`^${DAY}[a-z]*, \\d{2}-${MONTH}-\\d{2} \\d{2}:\\d{2}:\\d{2} GMT$`);
const ASCTIME = new RegExp(`^${DAY} ${MONTH} [ \\d]\\d \\d{2}:\\d{2}:\\d{2} \\d{4}$`);

/**
 * `Retry-After` (RFC 9110 §10.2.3) as a delay in ms from `now`: delay-seconds or an HTTP date
 * (a past date is 0), at most `maxMs`; null when absent or not in either form.
 */
export function parseRetryAfter(
  header: string | null | undefined,
  now: number,
  maxMs = Infinity,
): number | null {
  const v = header?.trim();
  if (!v) return null;
  let ms: number;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else if (IMF_FIXDATE.test(v) || RFC850.test(v)) ms = Date.parse(v) - now;
  else if (ASCTIME.test(v)) ms = Date.parse(`${v} GMT`) - now;
  else return null;
  return Number.isNaN(ms) ? null : Math.min(Math.max(0, ms), maxMs);
}

/** Resolves after `ms` on `clock`, or at once when `signal` aborts (callers check it). */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clock.clearTimeout(id);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const id = clock.setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Thrown by {@link withTimeout} when the time ran out. */
export class TimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = "TimeoutError";
  }
}

export interface TimeoutOptions {
  readonly clock: Clock;
  readonly timeoutMs: number;
  /** The caller's own abort (a stop): its reason is thrown as it is. */
  readonly signal?: AbortSignal;
}

/**
 * Runs `work` with a signal that aborts after `timeoutMs` on the clock or when `signal` aborts.
 * Rejects with {@link TimeoutError} on timeout, with `signal.reason` when the caller aborted,
 * else as `work` does — also when `work` ignores the signal. Put everything the limit covers
 * inside `work` (for `fetch`: reading the body too).
 */
export async function withTimeout<T>(
  work: (signal: AbortSignal) => Promise<T>,
  o: TimeoutOptions,
): Promise<T> {
  o.signal?.throwIfAborted();
  const timeout = new AbortController();
  const timer = o.clock.setTimeout(() => timeout.abort(new TimeoutError(o.timeoutMs)), o.timeoutMs);
  const signal = o.signal ? AbortSignal.any([timeout.signal, o.signal]) : timeout.signal;
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([work(signal), aborted]);
  } catch (err) {
    if (o.signal?.aborted) throw o.signal.reason;
    if (timeout.signal.aborted) throw timeout.signal.reason;
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort);
    o.clock.clearTimeout(timer);
    aborted.catch(() => {});
  }
}

/**
 * `fetch` with {@link withTimeout}: the limit covers the request until the response headers;
 * a caller that reads the body under the same limit uses `withTimeout` around both.
 */
export function fetchWithTimeout(
  input: string | URL | Request,
  init: RequestInit,
  o: TimeoutOptions,
): Promise<Response> {
  return withTimeout((signal) => fetch(input, { ...init, signal }), o);
}
