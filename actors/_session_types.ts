/** State, commands, events and replies of the session actor (see `session.ts`). */
import type { Role } from "../src/auth/principal.ts";
import type { Caller } from "./_common.ts";
import type { RecentBlocks } from "./_recent.ts";
import type { SessionView } from "./_session_view.ts";

/** How many recent messages the state keeps for retry detection and unread counts. */
export const RECENT_MESSAGES_LIMIT = 1000;

// ---------------------------------------------------------------------------------------------
// State

export type SessionKind = "support" | "lawyer";
export type SessionStatus = "none" | "queued" | "assigned" | "closed";

export interface Rating {
  readonly score: number;
  readonly comment?: string;
  readonly at: number;
}

export interface SessionState {
  readonly id: string;
  readonly exists: boolean;
  readonly kind: SessionKind;
  readonly status: SessionStatus;
  readonly clientId: string;
  /** The owning operator, or the lawyer of a lawyer chat. */
  readonly operatorId: string | null;
  readonly queue: string;
  readonly priority: number;
  readonly createdAt: number | null;
  readonly queuedAt: number | null;
  readonly assignedAt: number | null;
  readonly closedAt: number | null;
  readonly closedBy: Caller | null;
  readonly closeReason: string | null;
  readonly rating: Rating | null;
  /** Seq of the last event; the runtime numbers events 1, 2, 3… and this agrees. */
  readonly seq: number;
  /** At least the last {@link RECENT_MESSAGES_LIMIT} messages, oldest first, in blocks. */
  readonly recentMessages: RecentBlocks;
  /** Highest seq each participant has read. */
  readonly lastRead: Readonly<Record<string, number>>;
  readonly messageCount: number;
  /** Time of the first message from staff. */
  readonly firstResponseAt: number | null;
  readonly linkedChatId?: string;
}

// ---------------------------------------------------------------------------------------------
// Commands and replies

export type SessionCommand =
  | {
    type: "create";
    by: Caller;
    clientId: string;
    kind: SessionKind;
    queue: string;
    priority: number;
    linkedChatId?: string;
    /** Required for a lawyer chat: the lawyer it is assigned to. */
    lawyerId?: string;
  }
  /** Sent only by the queue actor, the single writer of assignments. */
  | { type: "assign"; by: Caller; operatorId: string; reason: string }
  | { type: "message"; by: Caller; text: string; clientMsgId?: string }
  | { type: "typing"; by: Caller; isTyping: boolean }
  | { type: "read"; by: Caller; seq: number }
  | { type: "close"; by: Caller; reason?: string }
  | { type: "rate"; by: Caller; score: number; comment?: string }
  | { type: "get"; by: Caller }
  /** From the queue only: the owner changes (`actor` is who asked for it). */
  | { type: "transfer"; by: Caller; from: string; to: string; reason: string; actor: Caller }
  /** From the queue only: back to the queue (operator offline, transfer to queue). */
  | { type: "requeue"; by: Caller; from: string; reason: string; actor: Caller }
  /** A separate lawyer chat was opened for this chat's client. */
  | { type: "link_lawyer"; by: Caller; lawyerId: string; lawyerChatId: string };

/** Reply of each command, by command type. */
export interface SessionReplies {
  create: SessionView;
  assign: { status: "assigned"; operatorId: string } | { status: "closed" };
  message: { seq: number; duplicate: true } | { seq: number; duplicate: false; at: number };
  typing: Record<string, never>;
  read: { lastReadSeq: number; unread: number };
  close: { status: "closed"; closedAt: number };
  rate: { rating: Rating };
  get: SessionView;
  transfer: { status: "assigned"; operatorId: string } | { status: "closed" };
  requeue: { status: "queued" } | { status: "closed" };
  link_lawyer: { seq: number };
}

export type SessionReply = SessionReplies[keyof SessionReplies];

// ---------------------------------------------------------------------------------------------
// Events (each one gets the next seq)

export type SessionEvent =
  | {
    type: "created";
    clientId: string;
    kind: SessionKind;
    queue: string;
    priority: number;
    byId: string;
    byRole: Role;
    linkedChatId?: string;
    at: number;
  }
  | { type: "queued"; at: number }
  | { type: "assigned"; operatorId: string; reason: string; at: number }
  | {
    type: "message";
    senderId: string;
    senderRole: Role;
    text: string;
    clientMsgId?: string;
    at: number;
  }
  | { type: "read"; participantId: string; seq: number }
  | { type: "closed"; byId: string; byRole: Role; reason: string | null; at: number }
  | { type: "rated"; score: number; comment?: string; at: number }
  | {
    type: "transferred";
    from: string | null;
    /** The new owner, or null when the chat went back to the queue. */
    to: string | null;
    reason: string;
    byId: string;
    byRole: Role;
    at: number;
  }
  | {
    type: "lawyer_assigned";
    lawyerId: string;
    lawyerChatId: string;
    byId: string;
    byRole: Role;
    at: number;
  };
