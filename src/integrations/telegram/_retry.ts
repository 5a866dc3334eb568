/** Waiting between attempts: Telegram's `retry_after` when given, else exponential backoff. */
import { AppError } from "../../errors.ts";
import type { Clock } from "../../runtime/clock.ts";
import { TelegramError } from "./api.ts";

/** The longest backoff between two attempts. */
export const MAX_BACKOFF_MS = 60_000;

/** Whether trying the same thing again later can succeed. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof TelegramError || err instanceof AppError) return err.retryable;
  return true; // an unexpected error: retry a bounded number of times, then dead-letter
}

/** How long to wait before attempt `attempt + 1` (attempt counts from 0). */
export function backoffMs(err: unknown, attempt: number, baseMs: number): number {
  if (err instanceof TelegramError && err.retryAfterS !== undefined) {
    return err.retryAfterS * 1000;
  }
  return Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.min(attempt, 30));
}

/** Resolves after `ms` on `clock`, or at once when `signal` aborts (callers check it). */
export function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clock.clearTimeout(id);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const id = clock.setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** A short, token-free description of an error for logs and dead letters. */
export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
