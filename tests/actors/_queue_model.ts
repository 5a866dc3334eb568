/**
 * A reference model of the queue's state for property tests: the same events applied to plain
 * arrays and records, each event copying them whole (the queue's evolve before it was indexed,
 * obviously right and O(n) per event), plus brute-force versions of the routing queries.
 */
import type {
  ActiveChat,
  OperatorSlot,
  QueueEvent,
  RoutingConfig,
  WaitingChat,
} from "../../actors/mod.ts";
import { DEFAULT_ROUTING, RECENT_CLAIMS_LIMIT, RECENT_WAITS_LIMIT } from "../../actors/mod.ts";

export interface Model {
  config: RoutingConfig;
  waiting: WaitingChat[];
  active: Record<string, ActiveChat>;
  operators: Record<string, OperatorSlot>;
  servedCount: number;
  waitSumMs: number;
  recentWaits: number[];
  recentClaims: number[];
}

export const emptyModel = (): Model => ({
  config: DEFAULT_ROUTING,
  waiting: [],
  active: {},
  operators: {},
  servedCount: 0,
  waitSumMs: 0,
  recentWaits: [],
  recentClaims: [],
});

const before = (a: WaitingChat, b: WaitingChat) =>
  a.priority !== b.priority
    ? a.priority > b.priority
    : a.requeued !== b.requeued
    ? a.requeued
    : a.enqueuedAt < b.enqueuedAt;

/** Removes the chat, then inserts it after every chat it is not served before. */
function insertOrdered(list: WaitingChat[], entry: WaitingChat): WaitingChat[] {
  const rest = list.filter((w) => w.chatId !== entry.chatId);
  const at = rest.findIndex((w) => before(entry, w));
  return at < 0 ? [...rest, entry] : [...rest.slice(0, at), entry, ...rest.slice(at)];
}

function slot(m: Model, id: string, patch: (s: OperatorSlot) => Partial<OperatorSlot>) {
  const s = m.operators[id];
  return s ? { ...m.operators, [id]: { ...s, ...patch(s) } } : { ...m.operators };
}

const patchWaiting = (m: Model, chatId: string, patch: Partial<WaitingChat>) =>
  m.waiting.map((w) => (w.chatId === chatId ? { ...w, ...patch } : w));

export function modelEvolve(m: Model, e: QueueEvent): Model {
  switch (e.type) {
    case "configured":
      return { ...m, config: e.config };
    case "enqueued": {
      const { type: _t, ...rest } = e;
      return {
        ...m,
        waiting: insertOrdered(m.waiting, { ...rest, requeued: false, offer: null, declined: [] }),
      };
    }
    case "offered":
      return {
        ...m,
        waiting: patchWaiting(m, e.chatId, { offer: { operatorId: e.operatorId, until: e.until } }),
        operators: slot(m, e.operatorId, (s) => ({ load: s.load + 1, idleSince: e.at })),
      };
    case "offer_expired": {
      const w = m.waiting.find((c) => c.chatId === e.chatId)!;
      return {
        ...m,
        waiting: patchWaiting(m, e.chatId, {
          offer: null,
          declined: [...w.declined, e.operatorId],
        }),
        operators: slot(m, e.operatorId, (s) => ({ load: s.load - 1 })),
      };
    }
    case "claimed": {
      const w = m.waiting.find((c) => c.chatId === e.chatId)!;
      const extra = w.offer?.operatorId === e.operatorId ? 0 : 1;
      return {
        ...m,
        waiting: m.waiting.filter((c) => c.chatId !== e.chatId),
        active: {
          ...m.active,
          [e.chatId]: {
            operatorId: e.operatorId,
            clientId: w.clientId,
            assignedAt: e.at,
            enqueuedAt: w.enqueuedAt,
            priority: w.priority,
          },
        },
        operators: slot(m, e.operatorId, (s) => ({ load: s.load + extra, idleSince: e.at })),
        servedCount: m.servedCount + 1,
        waitSumMs: m.waitSumMs + e.waitedMs,
        recentWaits: [...m.recentWaits, e.waitedMs].slice(-RECENT_WAITS_LIMIT),
        recentClaims: [...m.recentClaims, e.at].slice(-RECENT_CLAIMS_LIMIT),
      };
    }
    case "released": {
      const { [e.chatId]: gone, ...active } = m.active;
      const holder = gone?.operatorId ??
        m.waiting.find((c) => c.chatId === e.chatId)?.offer?.operatorId;
      return {
        ...m,
        waiting: m.waiting.filter((c) => c.chatId !== e.chatId),
        active,
        operators: holder ? slot(m, holder, (s) => ({ load: s.load - 1 })) : m.operators,
      };
    }
    case "transferred": {
      const a = m.active[e.chatId];
      const once = { ...m, operators: slot(m, e.from, (s) => ({ load: s.load - 1 })) };
      return {
        ...once,
        active: { ...m.active, [e.chatId]: { ...a, operatorId: e.to, assignedAt: e.at } },
        operators: slot(once, e.to, (s) => ({ load: s.load + 1, idleSince: e.at })),
      };
    }
    case "requeued": {
      const { [e.chatId]: a, ...active } = m.active;
      const entry: WaitingChat = {
        chatId: e.chatId,
        clientId: a.clientId,
        priority: a.priority,
        enqueuedAt: a.enqueuedAt,
        requeued: true,
        offer: null,
        declined: [e.from],
      };
      return {
        ...m,
        active,
        waiting: insertOrdered(m.waiting, entry),
        operators: slot(m, e.from, (s) => ({ load: s.load - 1 })),
      };
    }
    case "operator_registered":
      return {
        ...m,
        operators: {
          ...m.operators,
          [e.operatorId]: {
            role: e.role,
            status: "offline",
            capacity: null,
            connected: false,
            lostAt: null,
            load: 0,
            idleSince: e.at,
          },
        },
      };
    case "status_changed":
      return {
        ...m,
        operators: slot(m, e.operatorId, (s) => ({
          status: e.status,
          lostAt: e.status === "offline" ? null : s.lostAt,
        })),
      };
    case "capacity_changed":
      return { ...m, operators: slot(m, e.operatorId, () => ({ capacity: e.capacity })) };
    case "priority_changed": {
      const w = m.waiting.find((c) => c.chatId === e.chatId);
      if (w) return { ...m, waiting: insertOrdered(m.waiting, { ...w, priority: e.priority }) };
      const a = m.active[e.chatId];
      return { ...m, active: { ...m.active, [e.chatId]: { ...a, priority: e.priority } } };
    }
    case "operator_connected": {
      const prev = m.operators[e.operatorId];
      return {
        ...m,
        operators: {
          ...m.operators,
          [e.operatorId]: {
            role: e.role,
            status: !prev || prev.status === "offline" ? "online" : prev.status,
            capacity: prev?.capacity ?? null,
            connected: true,
            lostAt: null,
            load: prev?.load ?? 0,
            idleSince: prev?.idleSince ?? e.at,
          },
        },
      };
    }
    case "operator_lost":
      return {
        ...m,
        operators: slot(m, e.operatorId, () => ({ connected: false, lostAt: e.at })),
      };
    case "operator_expired":
      return {
        ...m,
        operators: slot(m, e.operatorId, () => ({ status: "offline", lostAt: null })),
      };
  }
}

/** Every operator scanned: the fewest open chats, longest idle, smallest id; declined last. */
export function modelPick(m: Model, chat: WaitingChat): string | null {
  let best: { id: string; s: OperatorSlot; declined: boolean } | null = null;
  for (const [id, s] of Object.entries(m.operators)) {
    const cap = s.capacity ?? m.config.defaultCapacity;
    if (s.role !== "operator" || s.status !== "online" || !s.connected || s.load >= cap) continue;
    const declined = chat.declined.includes(id);
    const better = best === null ||
      (declined !== best.declined
        ? !declined
        : s.load !== best.s.load
        ? s.load < best.s.load
        : s.idleSince !== best.s.idleSince
        ? s.idleSince < best.s.idleSince
        : id < best.id);
    if (better) best = { id, s, declined };
  }
  return best?.id ?? null;
}
