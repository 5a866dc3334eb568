/** Pure routing policy of the queue: eligibility, choice of operator, estimates. */
import { freeOperators } from "./_queue_state.ts";
import type { QueueState, WaitingChat } from "./_queue_types.ts";

export {
  activeOf,
  canTakeMore,
  capacityOf,
  compareWaiting,
  queuePosition,
  slotOf,
} from "./_queue_state.ts";

/**
 * The operator to offer `chat` to: the fewest open chats, then the longest idle, then the
 * smallest id (for determinism). Operators who let this chat's offer expire come last. The
 * `free` index is in exactly that order, so this reads O(1 + declined) entries of it.
 */
export function pickOperator(state: QueueState, chat: WaitingChat): string | null {
  let firstDeclined: string | null = null;
  for (const id of freeOperators(state)) {
    if (!chat.declined.includes(id)) return id;
    firstDeclined ??= id;
  }
  return firstDeclined;
}

/** Chats taken per second over the recent claims, or null with too little data. */
export function serviceRate(recentClaims: readonly number[]): number | null {
  if (recentClaims.length < 2) return null;
  const span = recentClaims[recentClaims.length - 1] - recentClaims[0];
  if (span <= 0) return null;
  return (recentClaims.length - 1) / (span / 1000);
}

/** Seconds until a chat at `position` is likely taken, or null without a service rate. */
export function estimatedWaitSeconds(position: number, rate: number | null): number | null {
  if (rate === null || position < 1) return null;
  return Math.round((position / rate) * 10) / 10;
}

export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}
