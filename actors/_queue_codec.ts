/**
 * The queue's state as plain JSON and back: the snapshot codec (the stored shape is the one
 * every version has stored, {@link QueueSnapshot}, so older snapshots load and older code could
 * read newer ones), and the plain replies of the read-only commands (pages, statistics, roster).
 * Replies are fresh objects: they may cross the broker in a cluster.
 */
import {
  activeChats,
  activeChatsOf,
  activeCount,
  activeOf,
  anyOperatorFree,
  compareWaiting,
  emptyIndexes,
  offersOf,
  putActive,
  putSlot,
  queuePosition,
  recentValues,
  waitingChats,
  waitingCount,
  type WaitingEntry,
  waitingPage,
  withConfig,
} from "./_queue_state.ts";
import { decided } from "./_common.ts";
import { SortedMap } from "./_sorted_map.ts";
import {
  type ActiveChat,
  DEFAULT_ROUTING,
  type OperatorSlot,
  type QueueCommand,
  type QueuePage,
  type QueueReply,
  type QueueRoster,
  type QueueSnapshot,
  type QueueState,
  type QueueStats,
  RECENT_CLAIMS_LIMIT,
  RECENT_WAITS_LIMIT,
  type WaitingChat,
} from "./_queue_types.ts";

export function initialQueueState(name: string): QueueState {
  return {
    name,
    config: DEFAULT_ROUTING,
    ...emptyIndexes(),
    counter: 0,
    servedCount: 0,
    waitSumMs: 0,
    recentWaits: [],
    recentClaims: [],
  };
}

/**
 * A waiting chat without the state's bookkeeping; `stored` keeps its ownership decision (the
 * snapshot needs it, replies do not).
 */
export function publicWaiting(w: WaitingChat, stored = false): WaitingChat {
  return {
    chatId: w.chatId,
    clientId: w.clientId,
    priority: w.priority,
    enqueuedAt: w.enqueuedAt,
    requeued: w.requeued,
    offer: w.offer ? { ...w.offer } : null,
    declined: [...w.declined],
    ...(stored ? decided(w.decision) : {}),
  };
}

function publicActive(a: ActiveChat, stored = false): ActiveChat {
  return {
    operatorId: a.operatorId,
    clientId: a.clientId,
    assignedAt: a.assignedAt,
    enqueuedAt: a.enqueuedAt,
    priority: a.priority,
    ...(stored ? decided(a.decision) : {}),
  };
}

/**
 * The whole state as plain JSON, O(n): the `snapshot` command's reply, and with `stored` the
 * stored snapshot (which keeps the ownership decisions).
 */
export function toSnapshot(state: QueueState, stored = false): QueueSnapshot {
  const active: Record<string, ActiveChat> = {};
  for (const [chatId, a] of activeChats(state)) active[chatId] = publicActive(a, stored);
  const operators: Record<string, OperatorSlot> = {};
  for (const [id, slot] of state.operators.entries()) operators[id] = { ...slot };
  return {
    name: state.name,
    config: state.config,
    waiting: [...waitingChats(state)].map((w) => publicWaiting(w, stored)),
    active,
    operators,
    servedCount: state.servedCount,
    waitSumMs: state.waitSumMs,
    recentWaits: recentValues(state.recentWaits, RECENT_WAITS_LIMIT),
    recentClaims: [...state.recentClaims],
  };
}

/**
 * The state from a stored snapshot. Reads every stored shape: the current one and older ones
 * that lack later fields (routing config, roster, offers, requeues), which get their defaults.
 * The waiting list is re-sorted (stable) in case an old writer left ties in another order.
 */
export function fromSnapshot(stored: unknown, name: string): QueueState {
  const s = (stored ?? {}) as Partial<QueueSnapshot> & { recentWaits?: unknown };
  let state = initialQueueState(typeof s.name === "string" ? s.name : name);
  state = withConfig(state, { ...DEFAULT_ROUTING, ...(s.config ?? {}) });
  for (const [id, slot] of Object.entries(s.operators ?? {})) state = putSlot(state, id, slot);
  for (const [chatId, a] of Object.entries(s.active ?? {})) state = putActive(state, chatId, a);
  const waiting: WaitingEntry[] = (s.waiting ?? []).map((w, i) => ({
    chatId: w.chatId,
    clientId: w.clientId,
    priority: w.priority ?? 0,
    enqueuedAt: w.enqueuedAt,
    requeued: w.requeued ?? false,
    offer: w.offer ?? null,
    declined: w.declined ?? [],
    ...decided(w.decision),
    order: state.counter + i,
  }));
  waiting.sort(compareWaiting);
  const byId = waiting.map((w) => [w.chatId, w] as const).sort((a, b) =>
    a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0
  );
  const order = waiting.map((w) => [w, w.chatId] as const);
  const unoffered = order.filter(([w]) => w.offer === null);
  let offers = state.offers;
  for (const w of waiting) if (w.offer) offers = offers.set([w.offer.operatorId, w.chatId], true);
  const recentWaits = Array.isArray(s.recentWaits) ? (s.recentWaits as number[]) : [];
  return {
    ...state,
    waitingById: SortedMap.fromSorted(state.waitingById.cmp, byId),
    waitingOrder: SortedMap.fromSorted(state.waitingOrder.cmp, order),
    unoffered: SortedMap.fromSorted(state.unoffered.cmp, unoffered),
    offers,
    counter: state.counter + waiting.length,
    servedCount: s.servedCount ?? 0,
    waitSumMs: s.waitSumMs ?? 0,
    recentWaits: chunked(recentWaits.slice(-RECENT_WAITS_LIMIT)),
    recentClaims: (s.recentClaims ?? []).slice(-RECENT_CLAIMS_LIMIT),
  };
}

const chunked = (values: number[]) => {
  const out: number[][] = [];
  for (let i = 0; i < values.length; i += 50) out.push(values.slice(i, i + 50));
  return out;
};

// ---------------------------------------------------------------------------------------------
// Replies of the read-only commands

export function pageOf(
  state: QueueState,
  offset: number,
  limit: number,
  activeOffset = 0,
  activeLimit = 0,
  heldBy?: string,
): QueuePage {
  const active: QueuePage["active"] = [];
  if (heldBy !== undefined) {
    for (const chatId of activeChatsOf(state, heldBy)) {
      active.push({ chatId, ...publicActive(activeOf(state, chatId)!) });
    }
  } else if (activeLimit > 0) {
    for (const [chatId, a] of activeChats(state, activeOffset)) {
      active.push({ chatId, ...publicActive(a) });
      if (active.length >= activeLimit) break;
    }
  }
  return {
    config: state.config,
    waitingTotal: waitingCount(state),
    activeTotal: activeCount(state),
    offset,
    waiting: waitingPage(state, offset, limit).map((w) => publicWaiting(w)),
    activeOffset,
    active,
    recentClaims: [...state.recentClaims],
  };
}

export function statsOf(state: QueueState): QueueStats {
  return {
    waiting: waitingCount(state),
    active: activeCount(state),
    servedCount: state.servedCount,
    waitSumMs: state.waitSumMs,
    recentWaits: recentValues(state.recentWaits, RECENT_WAITS_LIMIT),
    recentClaims: [...state.recentClaims],
    operatorFree: anyOperatorFree(state),
  };
}

export function rosterOf(state: QueueState): QueueRoster {
  const operators: Record<string, OperatorSlot> = {};
  for (const [id, slot] of state.operators.entries()) operators[id] = { ...slot };
  return { config: state.config, operators };
}

export function positionOf(state: QueueState, chatId: string) {
  return { position: queuePosition(state, chatId), recentClaims: [...state.recentClaims] };
}

/** Places of several chats, O(k log n). */
export function positionsOf(state: QueueState, chatIds: readonly string[]) {
  return {
    positions: chatIds.map((id) => queuePosition(state, id)),
    recentClaims: [...state.recentClaims],
  };
}

/** Most waiting (or taken) chats one `page` answers. */
export const PAGE_MAX = 1000;

type Read = Extract<
  QueueCommand,
  {
    type:
      | "snapshot"
      | "activeFor"
      | "page"
      | "stats"
      | "roster"
      | "position"
      | "positions"
      | "offersFor"
      | "holds";
  }
>;

/** The waiting chats offered to an operator, in service order, as plain JSON. */
export function offeredTo(state: QueueState, operatorId: string): WaitingChat[] {
  return offersOf(state, operatorId).map((id) => publicWaiting(state.waitingById.get(id)!));
}

/** The reply of a read-only command (no event): the state as it is, as plain JSON. */
export function readQueue(state: QueueState, cmd: Read): QueueReply {
  switch (cmd.type) {
    case "snapshot":
      return toSnapshot(state);
    case "activeFor":
      return activeChatsOf(state, cmd.operatorId);
    case "page": {
      const at = (n: number | undefined, max: number) =>
        Math.max(0, Math.min(max, Math.floor(Number.isFinite(n) ? n! : 0)));
      return pageOf(
        state,
        at(cmd.offset, Number.MAX_SAFE_INTEGER),
        at(cmd.limit, PAGE_MAX),
        at(cmd.activeOffset, Number.MAX_SAFE_INTEGER),
        at(cmd.activeLimit, PAGE_MAX),
        cmd.heldBy,
      );
    }
    case "stats":
      return statsOf(state);
    case "roster":
      return rosterOf(state);
    case "position":
      return positionOf(state, cmd.chatId);
    case "positions":
      return positionsOf(state, cmd.chatIds);
    case "offersFor":
      return offeredTo(state, cmd.operatorId);
    case "holds":
      return cmd.chatIds.filter((id) => state.waitingById.has(id) || activeOf(state, id));
  }
}
