/**
 * Waiting between attempts: Telegram's `retry_after` when given, else exponential backoff
 * (src/util/retry.ts), on the injected clock.
 */
import { AppError } from "../../errors.ts";
import { backoffMs as backoff } from "../../util/retry.ts";
import { TelegramError } from "./api.ts";

export { sleep } from "../../util/retry.ts";

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
  return backoff(attempt + 1, { baseMs, maxMs: MAX_BACKOFF_MS });
}

/** A short, token-free description of an error for logs and dead letters. */
export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
