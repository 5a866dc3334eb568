/** Stored events as wire frames: session events for chat followers, queue events for staff. */
import { queueCaller } from "../../actors/_common.ts";
import { type QueueEvent, type QueueState, slotOf, waitingOf } from "../../actors/queue.ts";
import type { SessionEvent } from "../../actors/session.ts";
import { frame, type OutboundFrame } from "../protocol/mod.ts";
import type { StaffRole } from "../auth/principal.ts";
import type { Envelope } from "../runtime/entity.ts";

const iso = (ms: number) => new Date(ms).toISOString();

/** Context a session frame needs beyond the event: who the client is (from the state). */
export interface SessionFrameContext {
  readonly clientId: string;
  readonly queue: string;
  readonly priority: number;
  /** A staff member's display name, when known (`operator_name` of assignments). */
  readonly staffName?: (id: string) => string | undefined;
}

/** The staff ids whose names the frames of these events show. */
export function namedStaff(envs: readonly Envelope<SessionEvent>[]): string[] {
  const ids = new Set<string>();
  for (const { event: e } of envs) {
    if (e.type === "assigned") ids.add(e.operatorId);
    else if (e.type === "transferred" && e.to !== null) ids.add(e.to);
    else if (e.type === "lawyer_assigned") ids.add(e.lawyerId);
  }
  return [...ids];
}

/** One session event as the frame every follower receives; `seq` is the event's seq. */
export function sessionFrame(
  chatId: string,
  env: Envelope<SessionEvent>,
  ctx: SessionFrameContext,
): OutboundFrame {
  const base = { chat_id: chatId, seq: env.seq, timestamp: iso(env.at) };
  const e = env.event;
  const named = (key: string, id: string) => {
    const name = ctx.staffName?.(id);
    return name ? { [key]: name } : {};
  };
  switch (e.type) {
    case "created":
      return frame("chat_created", {
        ...base,
        client_id: e.clientId,
        kind: e.kind,
        ...(e.channel ? { channel: { ...e.channel } } : {}),
        ...(e.held ? { held: true } : {}),
        ...(e.clientName ? { client_name: e.clientName } : {}),
        ...(e.offline ? { offline: true } : {}),
        ...(e.kind === "lawyer" && e.linkedChatId
          ? { linked_chat_id: e.linkedChatId, assigned_by: e.byId }
          : {}),
        ...(e.reason ? { reason: e.reason } : {}),
      });
    case "queued":
      return frame("chat_queued", { ...base, priority: ctx.priority, queue: ctx.queue });
    case "assigned":
      return frame("chat_assigned", {
        ...base,
        client_id: ctx.clientId,
        operator_id: e.operatorId,
        role: e.reason === "lawyer" ? "lawyer" : "operator",
        ...named("operator_name", e.operatorId),
      });
    case "message":
      return frame("message", {
        ...base,
        sender_id: e.senderId,
        sender_role: e.senderRole,
        message: e.text,
        ...(e.clientMsgId ? { client_msg_id: e.clientMsgId } : {}),
        ...(e.attachments?.length
          ? {
            attachments: e.attachments.map((a) => ({
              ...a,
              url: `/api/v1/chat/chats/${chatId}/attachments/${a.id}`,
            })),
          }
          : {}),
      });
    case "bot_message":
      return frame("bot_response", {
        ...base,
        id: `${chatId}:${env.seq}`,
        content: e.text,
        metadata: { intent: e.intent, confidence: e.confidence, quick_replies: e.quickReplies },
      });
    case "escalated":
      return frame("chat_escalated", { ...base, reason: e.reason });
    case "titled":
      return frame("chat_title", { ...base, title: e.title });
    case "read":
      return frame("read", {
        ...base,
        user_id: e.participantId,
        ...(e.role ? { role: e.role } : {}),
        last_read_seq: e.seq,
      });
    case "closed":
      return frame("chat_closed", {
        ...base,
        closed_by: e.byId,
        closed_by_role: e.byRole,
        ...(e.reason ? { reason: e.reason } : {}),
      });
    case "rated":
      return frame("chat_rated", {
        ...base,
        score: e.score,
        ...(e.comment ? { comment: e.comment } : {}),
      });
    case "transferred":
      return frame("chat_transferred", {
        ...base,
        ...(e.from ? { from_operator_id: e.from } : {}),
        ...(e.to ? { to_operator_id: e.to } : {}),
        to_queue: e.to === null,
        reason: e.reason,
        // The queue acting on its own (grace expiry, reconcile) is "system" on the wire.
        by: e.byId === queueCaller(ctx.queue).id ? "system" : e.byId,
        ...(e.to ? named("operator_name", e.to) : {}),
      });
    case "lawyer_assigned":
      return frame("lawyer_assigned", {
        ...base,
        lawyer_id: e.lawyerId,
        lawyer_chat_id: e.lawyerChatId,
        by: e.byId,
        ...(e.reason ? { reason: e.reason } : {}),
        ...named("lawyer_name", e.lawyerId),
      });
  }
}

/**
 * Where a queue frame goes: every connection that watches the queue (operators and admins;
 * lawyers see only chats they are a participant of), or one operator's connections.
 */
export type QueueDelivery = { to: "staff"; frame: OutboundFrame } | {
  to: "user";
  userId: string;
  frame: OutboundFrame;
};

/** Who watches the queue live: operators and admins, never lawyers. */
export const QUEUE_WATCHERS: StaffRole[] = ["operator", "admin"];

/**
 * Queue events as frames sent at once: offers to their operator, and operator statuses. The
 * waiting list itself (chats arriving and leaving) is not sent per event: staff get views of the
 * head of the queue, at most one per interval (src/server/queue_view.ts). `after` is the queue
 * state after the event.
 */
export function queueFrames(
  env: Envelope<QueueEvent>,
  after: QueueState | undefined,
): QueueDelivery[] {
  const e = env.event;
  const status = (
    operatorId: string,
    s: "online" | "away" | "busy" | "offline",
  ): QueueDelivery[] => [
    { to: "staff", frame: frame("operator_status", { operator_id: operatorId, status: s }) },
  ];
  switch (e.type) {
    case "offered": {
      const w = after && waitingOf(after, e.chatId);
      if (!w) return [];
      return [{
        to: "user",
        userId: e.operatorId,
        frame: frame("chat_offered", {
          chat_id: w.chatId,
          client_id: w.clientId,
          priority: w.priority,
          waiting_since: iso(w.enqueuedAt),
          expires_at: iso(e.until),
        }),
      }];
    }
    case "offer_expired":
      return [{
        to: "user",
        userId: e.operatorId,
        frame: frame("chat_removed", { chat_id: e.chatId, reason: "expired" }),
      }];
    case "status_changed":
      return status(e.operatorId, e.status);
    case "operator_connected":
      return status(e.operatorId, (after && slotOf(after, e.operatorId))?.status ?? "online");
    case "operator_expired":
      return status(e.operatorId, "offline");
    case "enqueued":
    case "requeued":
    case "priority_changed":
    case "claimed":
    case "released":
    case "transferred":
    case "operator_registered":
    case "operator_lost":
    case "capacity_changed":
    case "configured":
      return [];
  }
}
