/**
 * The Bot API calls this integration makes (`getUpdates`, `sendMessage`, `setWebhook`,
 * `deleteWebhook`), over HTTPS, each bounded by a timeout on the injected clock (the answer's
 * body included). Every failure becomes a {@link TelegramError} that says whether and when to
 * try again; the token never reaches a log.
 */
import type { Clock } from "../../runtime/clock.ts";
import { TimeoutError, withTimeout } from "../../util/retry.ts";

/** `rate_limited`: 429 with `retry_after`; `rejected`: a 4xx that a retry cannot fix. */
export type FailureKind = "rate_limited" | "server" | "timeout" | "network" | "rejected";

export class TelegramError extends Error {
  constructor(
    readonly method: string,
    readonly kind: FailureKind,
    /** HTTP status, or 0 when no response arrived. */
    readonly status: number,
    description: string,
    /** Seconds Telegram asked us to wait (429 `parameters.retry_after`). */
    readonly retryAfterS?: number,
  ) {
    super(`Telegram ${method} failed (${kind}${status ? ` ${status}` : ""}): ${description}`);
    this.name = "TelegramError";
  }
  get retryable(): boolean {
    return this.kind !== "rejected";
  }
}

export interface SendMessage {
  chat_id: string | number;
  text: string;
  reply_markup?: unknown;
}

export interface TelegramApiOptions {
  /** e.g. `https://api.telegram.org` (tests: the fake server's URL). */
  readonly baseUrl: string;
  readonly token: string;
  /** Longest a call may take beyond a long poll's own `timeout`. */
  readonly timeoutMs: number;
  /** The clock the timeouts run on (the server's; tests drive it by hand). */
  readonly clock: Clock;
}

export class TelegramApi {
  readonly #o: TelegramApiOptions;

  constructor(o: TelegramApiOptions) {
    this.#o = o;
  }

  /** Updates from `offset` on; waits up to `timeoutS` on Telegram's side for the first one. */
  getUpdates(offset: number, timeoutS: number, signal?: AbortSignal): Promise<unknown[]> {
    const body = { offset, timeout: timeoutS, allowed_updates: ["message"] };
    return this.call<unknown[]>("getUpdates", body, timeoutS * 1000 + this.#o.timeoutMs, signal);
  }

  sendMessage(m: SendMessage, signal?: AbortSignal): Promise<{ message_id: number }> {
    return this.call("sendMessage", m, this.#o.timeoutMs, signal);
  }

  setWebhook(url: string, secret: string, signal?: AbortSignal): Promise<boolean> {
    const body = { url, secret_token: secret, allowed_updates: ["message"] };
    return this.call("setWebhook", body, this.#o.timeoutMs, signal);
  }

  /** Polling and a webhook exclude each other: Telegram answers getUpdates 409 while one is set. */
  deleteWebhook(signal?: AbortSignal): Promise<boolean> {
    return this.call("deleteWebhook", {}, this.#o.timeoutMs, signal);
  }

  /**
   * One Bot API call. Resolves with `result`; rejects with a {@link TelegramError}, or with the
   * caller's abort reason when `signal` aborts (stopping is not a failure).
   */
  async call<T>(
    method: string,
    body: unknown,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<T> {
    const url = `${this.#o.baseUrl.replace(/\/+$/, "")}/bot${this.#o.token}/${method}`;
    let res: Response;
    let data: BotApiResponse | null;
    try {
      [res, data] = await withTimeout(async (signal) => {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
          signal,
        });
        return [res, await res.json().catch(() => null)] as const;
      }, { clock: this.#o.clock, timeoutMs, ...(signal ? { signal } : {}) });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof TimeoutError) {
        throw new TelegramError(method, "timeout", 0, `no answer in ${timeoutMs} ms`);
      }
      // The message of a network error may contain the URL, and so the token: keep it out.
      throw new TelegramError(method, "network", 0, (err as Error).name ?? "network error");
    }
    if (res.ok && data?.ok === true) return data.result as T;
    throw failure(method, res.status, data);
  }
}

interface BotApiResponse {
  ok: boolean;
  result?: unknown;
  description?: string;
  parameters?: { retry_after?: number };
}

function failure(method: string, status: number, data: BotApiResponse | null): TelegramError {
  const description = data?.description ?? `HTTP ${status}`;
  const retryAfter = data?.parameters?.retry_after;
  if (status === 429 || typeof retryAfter === "number") {
    const seconds = typeof retryAfter === "number" && retryAfter >= 0 ? retryAfter : undefined;
    return new TelegramError(method, "rate_limited", status, description, seconds);
  }
  // 409: another poller or a webhook holds the updates; it may go away, so it is worth waiting.
  if (status >= 500 || status === 409 || data === null) {
    return new TelegramError(method, "server", status, description);
  }
  return new TelegramError(method, "rejected", status, description);
}
