/** How queue events change the queue's state (pure). */
import { activeOf, insertOrdered, slotOf } from "./_queue_routing.ts";
import {
  type OperatorSlot,
  type QueueEvent,
  type QueueState,
  RECENT_CLAIMS_LIMIT,
  RECENT_WAITS_LIMIT,
  type WaitingChat,
} from "./_queue_types.ts";

export function evolve(state: QueueState, event: QueueEvent): QueueState {
  switch (event.type) {
    case "configured":
      return { ...state, config: event.config };
    case "enqueued": {
      const { type: _t, ...rest } = event;
      const entry: WaitingChat = { ...rest, requeued: false, offer: null, declined: [] };
      return { ...state, waiting: insertOrdered(state.waiting, entry) };
    }
    case "offered":
      return {
        ...withWaiting(state, event.chatId, {
          offer: { operatorId: event.operatorId, until: event.until },
        }),
        operators: withSlot(
          state,
          event.operatorId,
          (s) => ({ load: s.load + 1, idleSince: event.at }),
        ),
      };
    case "offer_expired": {
      const w = state.waiting.find((c) => c.chatId === event.chatId)!;
      return {
        ...withWaiting(state, event.chatId, {
          offer: null,
          declined: [...w.declined, event.operatorId],
        }),
        operators: withSlot(state, event.operatorId, (s) => ({ load: s.load - 1 })),
      };
    }
    case "claimed": {
      const w = state.waiting.find((c) => c.chatId === event.chatId)!;
      const extra = w.offer?.operatorId === event.operatorId ? 0 : 1;
      return {
        ...state,
        waiting: state.waiting.filter((c) => c.chatId !== event.chatId),
        active: {
          ...state.active,
          [event.chatId]: {
            operatorId: event.operatorId,
            clientId: w.clientId,
            assignedAt: event.at,
            enqueuedAt: w.enqueuedAt,
            priority: w.priority,
          },
        },
        operators: withSlot(
          state,
          event.operatorId,
          (s) => ({ load: s.load + extra, idleSince: event.at }),
        ),
        servedCount: state.servedCount + 1,
        waitSumMs: state.waitSumMs + event.waitedMs,
        recentWaits: [...state.recentWaits, event.waitedMs].slice(-RECENT_WAITS_LIMIT),
        recentClaims: [...state.recentClaims, event.at].slice(-RECENT_CLAIMS_LIMIT),
      };
    }
    case "released": {
      const { [event.chatId]: gone, ...active } = state.active;
      const w = state.waiting.find((c) => c.chatId === event.chatId);
      const holder = gone?.operatorId ?? w?.offer?.operatorId;
      return {
        ...state,
        waiting: state.waiting.filter((c) => c.chatId !== event.chatId),
        active,
        operators: holder
          ? withSlot(state, holder, (s) => ({ load: s.load - 1 }))
          : state.operators,
      };
    }
    case "transferred": {
      const a = activeOf(state, event.chatId)!;
      const once = {
        ...state,
        operators: withSlot(state, event.from, (s) => ({ load: s.load - 1 })),
      };
      return {
        ...once,
        active: {
          ...state.active,
          [event.chatId]: { ...a, operatorId: event.to, assignedAt: event.at },
        },
        operators: withSlot(once, event.to, (s) => ({ load: s.load + 1, idleSince: event.at })),
      };
    }
    case "requeued": {
      const { [event.chatId]: a, ...active } = state.active;
      const entry: WaitingChat = {
        chatId: event.chatId,
        clientId: a.clientId,
        priority: a.priority,
        enqueuedAt: a.enqueuedAt,
        requeued: true,
        offer: null,
        declined: [event.from],
      };
      return {
        ...state,
        active,
        waiting: insertOrdered(state.waiting, entry),
        operators: withSlot(state, event.from, (s) => ({ load: s.load - 1 })),
      };
    }
    case "operator_registered": {
      const slot: OperatorSlot = {
        role: event.role,
        status: "offline",
        capacity: null,
        connected: false,
        lostAt: null,
        load: 0,
        idleSince: event.at,
      };
      return { ...state, operators: { ...state.operators, [event.operatorId]: slot } };
    }
    case "status_changed":
      return {
        ...state,
        // Going offline ends a running presence lease: there is nothing left to expire.
        operators: withSlot(state, event.operatorId, (slot) => ({
          status: event.status,
          lostAt: event.status === "offline" ? null : slot.lostAt,
        })),
      };
    case "capacity_changed":
      return {
        ...state,
        operators: withSlot(state, event.operatorId, () => ({ capacity: event.capacity })),
      };
    case "priority_changed": {
      const w = state.waiting.find((c) => c.chatId === event.chatId);
      if (w) {
        return {
          ...state,
          waiting: insertOrdered(state.waiting, { ...w, priority: event.priority }),
        };
      }
      const a = activeOf(state, event.chatId)!;
      return {
        ...state,
        active: { ...state.active, [event.chatId]: { ...a, priority: event.priority } },
      };
    }
    case "operator_connected": {
      const prev = slotOf(state, event.operatorId);
      const slot: OperatorSlot = {
        role: event.role,
        status: !prev || prev.status === "offline" ? "online" : prev.status,
        capacity: prev?.capacity ?? null,
        connected: true,
        lostAt: null,
        load: prev?.load ?? 0,
        idleSince: prev?.idleSince ?? event.at,
      };
      return { ...state, operators: { ...state.operators, [event.operatorId]: slot } };
    }
    case "operator_lost":
      return {
        ...state,
        operators: withSlot(
          state,
          event.operatorId,
          () => ({ connected: false, lostAt: event.at }),
        ),
      };
    case "operator_expired":
      return {
        ...state,
        operators: withSlot(state, event.operatorId, () => ({ status: "offline", lostAt: null })),
      };
  }
}

function withWaiting(state: QueueState, chatId: string, patch: Partial<WaitingChat>): QueueState {
  return {
    ...state,
    waiting: state.waiting.map((w) => (w.chatId === chatId ? { ...w, ...patch } : w)),
  };
}

function withSlot(
  state: QueueState,
  operatorId: string,
  patch: (slot: OperatorSlot) => Partial<OperatorSlot>,
): Record<string, OperatorSlot> {
  const slot = slotOf(state, operatorId);
  if (!slot) return { ...state.operators };
  return { ...state.operators, [operatorId]: { ...slot, ...patch(slot) } };
}
