/** Stored events as wire frames: session events for chat followers, queue events for staff. */
import type { SessionEvent } from "../../actors/session.ts";
import type { QueueEvent } from "../../actors/queue.ts";
import type { Envelope } from "../runtime/entity.ts";
import { frame, type OutboundFrame } from "../protocol/mod.ts";

const iso = (ms: number) => new Date(ms).toISOString();

/** Context a session frame needs beyond the event: who the client is (from the state). */
export interface SessionFrameContext {
  readonly clientId: string;
  readonly queue: string;
  readonly priority: number;
}

/** One session event as the frame every follower receives; `seq` is the event's seq. */
export function sessionFrame(
  chatId: string,
  env: Envelope<SessionEvent>,
  ctx: SessionFrameContext,
): OutboundFrame {
  const base = { chat_id: chatId, seq: env.seq, timestamp: iso(env.at) };
  const e = env.event;
  switch (e.type) {
    case "created":
      return frame("chat_created", { ...base, client_id: e.clientId, kind: e.kind });
    case "queued":
      return frame("chat_queued", { ...base, priority: ctx.priority, queue: ctx.queue });
    case "assigned":
      return frame("chat_assigned", {
        ...base,
        client_id: ctx.clientId,
        operator_id: e.operatorId,
        role: "operator",
      });
    case "message":
      return frame("message", {
        ...base,
        sender_id: e.senderId,
        sender_role: e.senderRole,
        message: e.text,
        ...(e.clientMsgId ? { client_msg_id: e.clientMsgId } : {}),
      });
    case "read":
      return frame("read", { ...base, user_id: e.participantId, last_read_seq: e.seq });
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
  }
}

/** Queue events as the staff's live queue view; null for events staff need not see. */
export function queueFrame(env: Envelope<QueueEvent>): OutboundFrame | null {
  const e = env.event;
  switch (e.type) {
    case "enqueued":
      return frame("new_chat_available", {
        chat_id: e.chatId,
        client_id: e.clientId,
        priority: e.priority,
        waiting_since: iso(e.enqueuedAt),
      });
    case "claimed":
      return frame("chat_removed", {
        chat_id: e.chatId,
        reason: "assigned",
        operator_id: e.operatorId,
      });
    case "released":
      // A chat leaving the waiting list; releasing an active chat changes no queue view.
      return e.from === "waiting"
        ? frame("chat_removed", { chat_id: e.chatId, reason: "closed" })
        : null;
  }
}
