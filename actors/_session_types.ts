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
/** `bot`: held by the bot (BOT_MODE=all) until it escalates the chat to the queue. */
export type SessionStatus = "none" | "bot" | "queued" | "assigned" | "closed";

/** Where the client writes from: the web widget (default) or another channel. */
export interface Channel {
  readonly kind: "web" | "telegram";
  /** The channel's id of the conversation (e.g. the Telegram chat id). */
  readonly ref?: string;
  /** Display name from the channel (e.g. the Telegram user's name). */
  readonly name?: string;
}

/** A file attached to a message (stored by the attachments service; this is its metadata). */
export interface Attachment {
  readonly id: string;
  readonly name: string;
  readonly mime: string;
  readonly size: number;
}

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
  /** Highest seq each participant has read, by participant key (`c:id`, `s:id`; bare ids in
   * marks stored before keys had a kind). */
  readonly lastRead: Readonly<Record<string, number>>;
  readonly messageCount: number;
  /** Time of the first message from staff. */
  readonly firstResponseAt: number | null;
  readonly linkedChatId?: string;
  /** Short title from the first client messages (absent until set). */
  readonly title?: string;
  readonly channel?: Channel;
  /** The name the client gave when starting the chat. */
  readonly clientName?: string;
  /** A human was asked for (by the client, or the bot gave up). */
  readonly escalated?: boolean;
  /** Left while nobody was online (an offline message): answered later. */
  readonly offline?: boolean;
  /** Support chat: the lawyers assigned to its client from it → their lawyer chat. */
  readonly lawyers?: Readonly<Record<string, string>>;
  /**
   * The queue seq of the latest ownership decision of the queue this chat has applied (absent:
   * none yet). A queue command carrying an older decision is late and changes nothing.
   */
  readonly queueDecision?: number;
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
    channel?: Channel;
    /** Keep the chat with the bot (status `bot`) instead of queueing it. */
    hold?: boolean;
    /** The name the client gave when starting the chat (unverified; shown to staff). */
    clientName?: string;
    /** An offline message (left while nobody was online). */
    offline?: boolean;
    /** A lawyer chat: why it was opened (shown to both sides). */
    reason?: string;
  }
  /**
   * Sent only by the queue actor, the single writer of assignments. `decision` (here, in
   * `transfer` and `requeue`): the queue seq of the ownership decision the command carries out;
   * absent in commands an older version sent.
   */
  | { type: "assign"; by: Caller; operatorId: string; reason: string; decision?: number }
  | {
    type: "message";
    by: Caller;
    text: string;
    clientMsgId?: string;
    /**
     * Set by the node that took the request when the client gave no `clientMsgId` (cluster mode):
     * a command Kafka delivers again after a crash is then recognised, not stored twice.
     */
    requestId?: string;
    attachments?: Attachment[];
    /**
     * The sender looked the dedup key up in the stored index (`msgid`) and did not find it: the
     * session takes it as new even when older messages than its recent window exist.
     */
    storedChecked?: boolean;
  }
  /** From the bot (the system caller): an answer while the chat waits or is held. */
  | {
    type: "bot_reply";
    by: Caller;
    intent: string;
    confidence: number;
    text: string;
    quickReplies: string[];
  }
  /** Hand the chat to a human: a held chat joins the queue. */
  | { type: "escalate"; by: Caller; reason: string }
  | { type: "set_title"; by: Caller; title: string }
  | { type: "typing"; by: Caller; isTyping: boolean }
  | { type: "read"; by: Caller; seq: number }
  | { type: "close"; by: Caller; reason?: string }
  | { type: "rate"; by: Caller; score: number; comment?: string }
  | { type: "get"; by: Caller }
  /** From the queue only: the owner changes (`actor` is who asked for it). */
  | {
    type: "transfer";
    by: Caller;
    from: string;
    to: string;
    reason: string;
    actor: Caller;
    decision?: number;
  }
  /** From the queue only: back to the queue (operator offline, transfer to queue). */
  | {
    type: "requeue";
    by: Caller;
    from: string;
    reason: string;
    actor: Caller;
    decision?: number;
  }
  /** A separate lawyer chat was opened for this chat's client. */
  | { type: "link_lawyer"; by: Caller; lawyerId: string; lawyerChatId: string; reason?: string };

/** Reply of each command, by command type. */
export interface SessionReplies {
  create: SessionView;
  assign: { status: "assigned"; operatorId: string } | { status: "closed" };
  /**
   * `lookup`: the id is not in the recent window but older messages exist; the sender looks it up
   * in the stored index and asks again with `storedChecked`.
   */
  message:
    | { seq: number; duplicate: true }
    | { seq: number; duplicate: false; at: number }
    | { lookup: true };
  typing: Record<string, never>;
  read: { lastReadSeq: number; unread: number };
  close: { status: "closed"; closedAt: number };
  rate: { rating: Rating };
  get: SessionView;
  transfer: { status: "assigned"; operatorId: string } | { status: "closed" };
  requeue: { status: "queued" } | { status: "closed" };
  link_lawyer: { seq: number };
  bot_reply: { seq: number };
  escalate: { status: SessionStatus };
  set_title: { title: string };
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
    channel?: Channel;
    /** Held for the bot: no `queued` follows until it is escalated. */
    held?: boolean;
    clientName?: string;
    /** An offline message: the client left an e-mail and expects an answer later. */
    offline?: boolean;
    /** A lawyer chat: why it was opened. */
    reason?: string;
    at: number;
  }
  | { type: "queued"; at: number }
  /** `decision` (here and in `transferred`): the queue's, see {@link SessionState.queueDecision}. */
  | { type: "assigned"; operatorId: string; reason: string; at: number; decision?: number }
  | {
    type: "message";
    senderId: string;
    senderRole: Role;
    text: string;
    clientMsgId?: string;
    /** The command's `requestId` (only without `clientMsgId`); never shown to clients. */
    requestId?: string;
    attachments?: Attachment[];
    at: number;
  }
  | {
    type: "bot_message";
    intent: string;
    confidence: number;
    text: string;
    quickReplies: string[];
    at: number;
  }
  | { type: "escalated"; reason: string; at: number }
  | { type: "titled"; title: string; at: number }
  /** `role` (absent in events stored before it): read marks are keyed by kind and id. */
  | { type: "read"; participantId: string; role?: Role; seq: number }
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
    decision?: number;
  }
  | {
    type: "lawyer_assigned";
    lawyerId: string;
    lawyerChatId: string;
    byId: string;
    byRole: Role;
    reason?: string;
    at: number;
  };
