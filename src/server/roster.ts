/**
 * Who is on staff right now, for pickers and the admin panel (`GET /chats/operators`), and the
 * public availability the widget shows (`GET /availability`). Built from what the queue actor
 * (status, presence, load, capacity) and each operator actor (name, latest role, open chats)
 * already expose. Admins are listed as admins and lawyers as lawyers: neither counts as an
 * operator online, whatever role the queue recorded for them, and neither has a capacity.
 */
import { operatorEntity, type OperatorView } from "../../actors/operator.ts";
import {
  capacityOf,
  estimatedWaitSeconds,
  type OperatorStatus,
  type QueueRoster,
  serviceRate,
} from "../../actors/queue.ts";
import type { StaffRole } from "../auth/principal.ts";
import type { ChatService } from "./chat_service.ts";

export interface RosterEntry {
  readonly operator_id: string;
  readonly name: string | null;
  readonly role: StaffRole;
  readonly status: OperatorStatus;
  readonly connected: boolean;
  /** Operators: active chats plus open offers; lawyers and admins: the chats they hold. */
  readonly open_chats: number;
  /** Operators only (lawyers and admins are not routed chats). */
  readonly capacity: number | null;
  /** An operator online, connected, with room for one more chat (a transfer target). */
  readonly available: boolean;
}

export interface Availability {
  /** Operators online with room for a chat. */
  readonly online: number;
  /** Operators online and connected, with room or not. */
  readonly operators_online: number;
  readonly waiting: number;
  /** For a chat started now; null without operators online or without a service rate. */
  readonly estimated_wait_s: number | null;
  /** What the widget promises when nobody is online: an answer within this many hours. */
  readonly reply_promise_h: number;
}

/** Every staff member the queue knows, with the name and role their operator actor keeps. */
export async function staffRoster(svc: ChatService): Promise<RosterEntry[]> {
  return await rosterOf(svc, await svc.queueLive.reads.roster());
}

/** The roster and its config only: O(operators), never the waiting chats. */
async function rosterOf(svc: ChatService, snap: QueueRoster): Promise<RosterEntry[]> {
  const ids = Object.keys(snap.operators).sort();
  const states = await Promise.all(
    ids.map((id) =>
      (svc.router.ask(operatorEntity, id, { type: "get" }) as Promise<OperatorView>)
        .catch(() => null)
    ),
  );
  const queue = { ...snap, name: svc.queueName };
  return ids.map((id, i) => {
    const slot = snap.operators[id];
    const st = states[i];
    // The operator actor has the latest token's role; the queue's may be older.
    const role = st?.role ?? slot.role;
    if (st?.name !== undefined) svc.names.remember(id, st.name);
    const operator = role === "operator";
    const capacity = operator ? capacityOf(queue, slot) : null;
    return {
      operator_id: id,
      name: st?.name ?? svc.names.cached(id) ?? null,
      role,
      status: slot.status,
      connected: slot.connected,
      open_chats: operator ? slot.load : st?.openChats.length ?? 0,
      capacity,
      available: operator && slot.status === "online" && slot.connected &&
        slot.load < (capacity ?? 0),
    };
  });
}

/** Operators online (with room), the queue and a wait estimate for the widget. */
export async function availability(svc: ChatService, replyPromiseH: number): Promise<Availability> {
  const [snap, stats] = await Promise.all([
    svc.queueLive.reads.roster(),
    svc.queueLive.reads.stats(),
  ]);
  const roster = await rosterOf(svc, snap);
  const operators = roster.filter((r) => r.role === "operator");
  const online = operators.filter((r) => r.available).length;
  const present = operators.filter((r) => r.status === "online" && r.connected).length;
  const waiting = stats.waiting;
  return {
    online,
    operators_online: present,
    waiting,
    estimated_wait_s: present === 0
      ? null
      : estimatedWaitSeconds(waiting + 1, serviceRate(stats.recentClaims)),
    reply_promise_h: replyPromiseH,
  };
}
