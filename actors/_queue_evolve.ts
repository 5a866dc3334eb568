/**
 * How queue events change the queue's state (pure). Each event touches a few entries of the
 * indexes in `_queue_state.ts`, O(log n) each; nothing is copied whole (but `configured`, which
 * re-sorts the roster's free operators).
 */
import { decided } from "./_common.ts";
import {
  activeOf,
  dropActive,
  dropWaiting,
  patchSlot,
  patchWaiting,
  pushRecent,
  putActive,
  putSlot,
  putWaiting,
  slotOf,
  waitingOf,
  withConfig,
} from "./_queue_state.ts";
import {
  type OperatorSlot,
  type QueueEvent,
  type QueueState,
  RECENT_CLAIMS_LIMIT,
  RECENT_WAITS_LIMIT,
} from "./_queue_types.ts";

export function evolve(state: QueueState, event: QueueEvent): QueueState {
  switch (event.type) {
    case "configured":
      return withConfig(state, event.config);
    case "enqueued": {
      const { type: _t, ...rest } = event;
      return putWaiting(state, { ...rest, requeued: false, offer: null, declined: [] });
    }
    case "offered": {
      const s = patchWaiting(state, event.chatId, {
        offer: { operatorId: event.operatorId, until: event.until },
      });
      return patchSlot(s, event.operatorId, (o) => ({ load: o.load + 1, idleSince: event.at }));
    }
    case "offer_expired": {
      const w = waitingOf(state, event.chatId)!;
      const s = patchWaiting(state, event.chatId, {
        offer: null,
        declined: [...w.declined, event.operatorId],
      });
      return patchSlot(s, event.operatorId, (o) => ({ load: o.load - 1 }));
    }
    case "claimed": {
      const w = waitingOf(state, event.chatId)!;
      const extra = w.offer?.operatorId === event.operatorId ? 0 : 1;
      let s = putActive(dropWaiting(state, event.chatId), event.chatId, {
        operatorId: event.operatorId,
        clientId: w.clientId,
        assignedAt: event.at,
        enqueuedAt: w.enqueuedAt,
        priority: w.priority,
        ...decided(event.decision),
      });
      s = patchSlot(s, event.operatorId, (o) => ({ load: o.load + extra, idleSince: event.at }));
      return {
        ...s,
        servedCount: s.servedCount + 1,
        waitSumMs: s.waitSumMs + event.waitedMs,
        recentWaits: pushRecent(s.recentWaits, event.waitedMs, RECENT_WAITS_LIMIT),
        recentClaims: [...s.recentClaims, event.at].slice(-RECENT_CLAIMS_LIMIT),
      };
    }
    case "released": {
      const gone = activeOf(state, event.chatId);
      const holder = gone?.operatorId ?? waitingOf(state, event.chatId)?.offer?.operatorId;
      const s = dropActive(dropWaiting(state, event.chatId), event.chatId);
      return holder ? patchSlot(s, holder, (o) => ({ load: o.load - 1 })) : s;
    }
    case "transferred": {
      const a = activeOf(state, event.chatId)!;
      let s = patchSlot(state, event.from, (o) => ({ load: o.load - 1 }));
      const { decision: _old, ...rest } = a;
      s = putActive(s, event.chatId, {
        ...rest,
        operatorId: event.to,
        assignedAt: event.at,
        ...decided(event.decision),
      });
      return patchSlot(s, event.to, (o) => ({ load: o.load + 1, idleSince: event.at }));
    }
    case "requeued": {
      const a = activeOf(state, event.chatId)!;
      const s = putWaiting(dropActive(state, event.chatId), {
        chatId: event.chatId,
        clientId: a.clientId,
        priority: a.priority,
        enqueuedAt: a.enqueuedAt,
        requeued: true,
        offer: null,
        declined: [event.from],
        ...decided(event.decision),
      });
      return patchSlot(s, event.from, (o) => ({ load: o.load - 1 }));
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
      return putSlot(state, event.operatorId, slot);
    }
    case "status_changed":
      // Going offline ends a running presence lease: there is nothing left to expire.
      return patchSlot(state, event.operatorId, (slot) => ({
        status: event.status,
        lostAt: event.status === "offline" ? null : slot.lostAt,
      }));
    case "capacity_changed":
      return patchSlot(state, event.operatorId, () => ({ capacity: event.capacity }));
    case "priority_changed": {
      const w = waitingOf(state, event.chatId);
      if (w) return putWaiting(state, { ...w, priority: event.priority });
      const a = activeOf(state, event.chatId)!;
      return putActive(state, event.chatId, { ...a, priority: event.priority });
    }
    case "operator_connected": {
      const prev = slotOf(state, event.operatorId);
      return putSlot(state, event.operatorId, {
        role: event.role,
        status: !prev || prev.status === "offline" ? "online" : prev.status,
        capacity: prev?.capacity ?? null,
        connected: true,
        lostAt: null,
        load: prev?.load ?? 0,
        idleSince: prev?.idleSince ?? event.at,
      });
    }
    case "operator_lost":
      return patchSlot(state, event.operatorId, () => ({ connected: false, lostAt: event.at }));
    case "operator_expired":
      return patchSlot(state, event.operatorId, () => ({ status: "offline", lostAt: null }));
  }
}
