/**
 * What a commit means for connections, as data: the owner of an actor turns its stored events into
 * hub operations, applies them to its own hub and (in a cluster) publishes them on `chat.events`,
 * so every node applies the same operations to the connections it holds. Operations are JSON.
 */
import {
  isStaff,
  type Principal,
  staffKey,
  type StaffRole,
  type UserKey,
} from "../auth/principal.ts";
import type { OutboundFrame } from "../protocol/mod.ts";
import type { Hub } from "./hub.ts";
import { staffStream } from "./streams.ts";
import type { QueueView } from "./_queue_view_diff.ts";

export type HubOp =
  /** A stored session event for the chat's followers (gap repair and dedup by `seq`). */
  | { op: "publish"; chatId: string; seq: number; frame: OutboundFrame }
  /**
   * The chat was assigned by event `seq`: other staff stop following, the owner starts (from
   * `from`, default just before the event: a lawyer chat's lawyer gets it from its start).
   */
  | { op: "assigned"; chatId: string; operatorId: string; seq: number; from?: number }
  /** After the transfer event: the old owner stops following, the new one catches up. */
  | { op: "transferred"; chatId: string; to: string | null }
  /** A frame that is not stored (typing, queue position) for the chat's followers. */
  | { op: "broadcast"; chatId: string; frame: OutboundFrame }
  /** To every staff connection with one of `roles` (default: every staff role). */
  | { op: "staff"; frame: OutboundFrame; roles?: StaffRole[] }
  /** To every connection of one user (kind and id: `s:op-1`, `c:v-…`). */
  | { op: "user"; user: UserKey; frame: OutboundFrame }
  /** The queue lost this operator: a node holding their connection re-announces them. */
  | { op: "presence"; operatorId: string }
  /** The queue's head and counts, once per interval (src/server/queue_view.ts). */
  | { op: "queue_view"; view: QueueView };

/** Staff who do not own the chat (admins keep following whatever they look at). */
const otherStaff = (owner: string | null) => (p: Principal) =>
  isStaff(p.role) && p.role !== "admin" && p.id !== owner;

export function applyHubOps(
  hub: Hub,
  ops: readonly HubOp[],
  onPresence: (operatorId: string) => void,
  onQueueView: (view: QueueView) => void = () => {},
): void {
  for (const o of ops) {
    switch (o.op) {
      case "publish":
        hub.publish(o.chatId, o.seq, o.frame);
        break;
      case "assigned":
        // Other staff may have looked at the waiting chat; it is no longer theirs to follow.
        hub.unsubscribeWhere(o.chatId, otherStaff(o.operatorId));
        // The new owner's connections follow the chat from just before this event.
        hub.subscribeUser(staffKey(o.operatorId), o.chatId, o.from ?? o.seq - 1);
        // And its staff stream, every note so far first (what colleagues wrote before).
        hub.unsubscribeWhere(staffStream(o.chatId), otherStaff(o.operatorId));
        hub.resumeUser(staffKey(o.operatorId), staffStream(o.chatId), 0);
        break;
      case "transferred":
        // The old owner saw the transfer and stops following; the new one gets the full history.
        hub.unsubscribeWhere(o.chatId, otherStaff(o.to));
        if (o.to !== null) hub.resumeUser(staffKey(o.to), o.chatId, 0);
        hub.unsubscribeWhere(staffStream(o.chatId), otherStaff(o.to));
        if (o.to !== null) hub.resumeUser(staffKey(o.to), staffStream(o.chatId), 0);
        break;
      case "broadcast":
        hub.broadcast(o.chatId, o.frame);
        break;
      case "staff":
        hub.toStaff(o.frame, o.roles);
        break;
      case "user":
        hub.toUser(o.user, o.frame);
        break;
      case "presence":
        onPresence(o.operatorId);
        break;
      case "queue_view":
        onQueueView(o.view);
        break;
    }
  }
}
