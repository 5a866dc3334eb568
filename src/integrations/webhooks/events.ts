/**
 * Which session events become webhook events, and the JSON body a receiver gets. The body is
 * built once, when the delivery is stored, so every retry and replay sends the same bytes and
 * the same delivery id.
 */
import type { SessionEvent } from "../../../actors/_session_types.ts";
import { sha256Hex } from "../../util/crypto.ts";

export const WEBHOOK_EVENTS = [
  "chat.created",
  "chat.assigned",
  "chat.message",
  "chat.closed",
  "chat.rated",
  "chat.transferred",
] as const;

export type WebhookEventType = typeof WEBHOOK_EVENTS[number];

/** What a receiver gets (also the dead letter's `payload`). */
export interface WebhookPayload {
  /** Delivery id: the same for every try and replay of this (subscription, chat, seq). */
  readonly id: string;
  readonly type: WebhookEventType;
  /** When the chat event happened (ISO-8601). */
  readonly created_at: string;
  readonly chat_id: string;
  /** The event's position in the chat; receivers can order by it. */
  readonly seq: number;
  readonly data: Record<string, unknown>;
}

/** The webhook type and data of a session event; null for events no webhook carries. */
export function webhookEvent(
  e: SessionEvent,
): { type: WebhookEventType; data: Record<string, unknown> } | null {
  switch (e.type) {
    case "created":
      return {
        type: "chat.created",
        data: {
          client_id: e.clientId,
          kind: e.kind,
          queue: e.queue,
          priority: e.priority,
          channel: e.channel ?? { kind: "web" },
          held_by_bot: e.held === true,
          ...(e.linkedChatId ? { linked_chat_id: e.linkedChatId } : {}),
        },
      };
    case "assigned":
      return { type: "chat.assigned", data: { operator_id: e.operatorId, reason: e.reason } };
    case "message":
      return {
        type: "chat.message",
        data: {
          sender_id: e.senderId,
          sender_role: e.senderRole,
          text: e.text,
          ...(e.clientMsgId ? { client_msg_id: e.clientMsgId } : {}),
          ...(e.attachments?.length ? { attachments: e.attachments } : {}),
        },
      };
    case "bot_message":
      // The bot's answers are chat messages too; `sender_role: "bot"` tells them apart.
      return {
        type: "chat.message",
        data: {
          sender_id: "bot",
          sender_role: "bot",
          text: e.text,
          intent: e.intent,
          confidence: e.confidence,
          quick_replies: e.quickReplies,
        },
      };
    case "closed":
      return { type: "chat.closed", data: { by_id: e.byId, by_role: e.byRole, reason: e.reason } };
    case "rated":
      return {
        type: "chat.rated",
        data: { score: e.score, ...(e.comment ? { comment: e.comment } : {}) },
      };
    case "transferred":
      return {
        type: "chat.transferred",
        data: {
          from_operator_id: e.from,
          to_operator_id: e.to,
          to_queue: e.to === null,
          reason: e.reason,
          by_id: e.byId,
          by_role: e.byRole,
        },
      };
    default:
      return null;
  }
}

/**
 * The delivery id: a hash of (subscription, chat, seq), so whichever node stores it, and however
 * often it is retried or replayed, the receiver sees one id per event and subscription.
 */
export async function deliveryId(subId: string, chatId: string, seq: number): Promise<string> {
  return `whd_${(await sha256Hex(`${subId}\n${chatId}\n${seq}`)).slice(0, 32)}`;
}
