/** Pure routing policy of the queue: ordering, eligibility, choice of operator, estimates. */
import type { ActiveChat, OperatorSlot, QueueState, WaitingChat } from "./_queue_types.ts";

/** True when `a` should be served before `b`. */
export function servedBefore(a: WaitingChat, b: WaitingChat): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (a.requeued !== b.requeued) return a.requeued;
  return a.enqueuedAt < b.enqueuedAt;
}

export function insertOrdered(
  list: readonly WaitingChat[],
  entry: WaitingChat,
): WaitingChat[] {
  const rest = list.filter((w) => w.chatId !== entry.chatId);
  const at = rest.findIndex((w) => servedBefore(entry, w));
  return at < 0 ? [...rest, entry] : [...rest.slice(0, at), entry, ...rest.slice(at)];
}

/** The roster entry of an operator; safe for any id (own properties only). */
export function slotOf(state: QueueState, operatorId: string): OperatorSlot | undefined {
  return Object.hasOwn(state.operators, operatorId) ? state.operators[operatorId] : undefined;
}

/** The owner record of a taken chat; safe for any id (own properties only). */
export function activeOf(state: QueueState, chatId: string): ActiveChat | undefined {
  return Object.hasOwn(state.active, chatId) ? state.active[chatId] : undefined;
}

export function capacityOf(state: QueueState, slot: OperatorSlot): number {
  return slot.capacity ?? state.config.defaultCapacity;
}

/** Online, connected, with room for one more chat. */
export function canTakeMore(state: QueueState, slot: OperatorSlot | undefined): boolean {
  return slot !== undefined && slot.status === "online" && slot.connected &&
    slot.load < capacityOf(state, slot);
}

/**
 * The operator to offer `chat` to: the fewest open chats, then the longest idle, then the
 * smallest id (for determinism). Operators who let this chat's offer expire come last.
 */
export function pickOperator(state: QueueState, chat: WaitingChat): string | null {
  let best: { id: string; slot: OperatorSlot; declined: boolean } | null = null;
  for (const [id, slot] of Object.entries(state.operators)) {
    // Offers go to operators only; admins and lawyers take chats by hand if at all.
    if (slot.role !== "operator" || !canTakeMore(state, slot)) continue;
    const declined = chat.declined.includes(id);
    if (
      best === null ||
      (declined !== best.declined
        ? !declined
        : slot.load !== best.slot.load
        ? slot.load < best.slot.load
        : slot.idleSince !== best.slot.idleSince
        ? slot.idleSince < best.slot.idleSince
        : id < best.id)
    ) {
      best = { id, slot, declined };
    }
  }
  return best?.id ?? null;
}

/** 1-based place of a waiting chat, or 0 when it is not waiting. */
export function queuePosition(state: QueueState, chatId: string): number {
  return state.waiting.findIndex((w) => w.chatId === chatId) + 1;
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
