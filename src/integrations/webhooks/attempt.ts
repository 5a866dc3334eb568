/**
 * One delivery try: a signed POST with a timeout on the injected clock, and what its answer
 * means. 2xx = delivered; 410 = the receiver wants no more (the subscription is turned off);
 * 429 = retry no sooner than its `Retry-After`; anything else (other 4xx, 5xx, redirects,
 * network errors, timeouts) = retry with backoff.
 */
import type { Clock } from "../../runtime/clock.ts";
import {
  backoffMs as backoff,
  fetchWithTimeout,
  parseRetryAfter,
  TimeoutError,
} from "../../util/retry.ts";
import { SIGNATURE_HEADER, signBody } from "./sign.ts";

export type Outcome =
  | { readonly kind: "delivered"; readonly status: number }
  | { readonly kind: "gone"; readonly status: 410 }
  | {
    readonly kind: "retry";
    readonly status: number | null;
    readonly error: string;
    /** From a 429's `Retry-After`. */
    readonly retryAfterMs?: number;
  }
  /** The node is stopping: the try does not count. */
  | { readonly kind: "aborted" };

export interface AttemptRequest {
  readonly url: string;
  readonly secret: string;
  readonly id: string;
  readonly type: string;
  readonly body: string;
  readonly attempt: number;
  readonly clock: Clock;
  readonly timeoutMs: number;
  /** Aborted when the node stops. */
  readonly stop: AbortSignal;
}

export async function attempt(r: AttemptRequest): Promise<Outcome> {
  try {
    const res = await fetchWithTimeout(r.url, {
      method: "POST",
      body: r.body,
      redirect: "manual",
      headers: {
        "content-type": "application/json",
        "user-agent": "support-chat-webhooks/1",
        [SIGNATURE_HEADER]: await signBody(r.secret, r.body),
        "X-Chat-Delivery": r.id,
        "X-Chat-Event": r.type,
        "X-Chat-Timestamp": String(Math.floor(r.clock.now() / 1000)),
        "X-Chat-Attempt": String(r.attempt),
      },
    }, { clock: r.clock, timeoutMs: r.timeoutMs, signal: r.stop });
    // The answer's body means nothing to us; release the connection.
    await res.body?.cancel().catch(() => {});
    return classify(res, r.clock.now());
  } catch (err) {
    if (r.stop.aborted) return { kind: "aborted" };
    if (err instanceof TimeoutError) {
      return { kind: "retry", status: null, error: `no answer within ${r.timeoutMs} ms` };
    }
    return { kind: "retry", status: null, error: errorText(err) };
  }
}

function classify(res: Response, now: number): Outcome {
  if (res.status >= 200 && res.status < 300) return { kind: "delivered", status: res.status };
  if (res.status === 410) return { kind: "gone", status: 410 };
  const error = res.status >= 300 && res.status < 400
    ? `redirect to ${res.headers.get("location") ?? "?"} not followed`
    : `HTTP ${res.status}`;
  if (res.status === 429) {
    const after = parseRetryAfter(res.headers.get("retry-after"), now);
    return {
      kind: "retry",
      status: 429,
      error,
      ...(after === null ? {} : { retryAfterMs: after }),
    };
  }
  return { kind: "retry", status: res.status, error };
}

/** `Retry-After` as delay-seconds or an HTTP date; null when absent or unreadable. */
export { parseRetryAfter as retryAfterMs };

/**
 * Delay before try `attempts + 1`: `base · 2^(attempts−1)` capped at `max`, then "equal jitter"
 * (50–100 % of that) so receivers that failed together are not retried in lockstep.
 */
export function backoffMs(attempts: number, base: number, max: number, random: () => number) {
  return backoff(attempts, { baseMs: base, maxMs: max, random });
}

function errorText(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.length > 300 ? `${msg.slice(0, 300)}…` : msg;
}
