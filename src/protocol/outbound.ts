/**
 * Every outbound WebSocket frame (server → client or staff) as a zod schema, the inferred types,
 * and a typed builder {@link frame}. All ids are strings; timestamps are ISO-8601 strings.
 */
import { z } from "zod";
import { AppError, ERROR_CODES, type ErrorCode } from "../errors.ts";
import {
  envelope,
  Id,
  INBOUND_TYPES,
  OperatorStatusSchema,
  RoleSchema,
  Seq,
  SeqCursor,
  Timestamp,
} from "./inbound.ts";

export const ErrorCodeSchema = z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]);

/** Who closed a chat: a participant's role, or `system` (e.g. inactivity). */
export const CloserRoleSchema = z.enum(["client", "operator", "lawyer", "admin", "system"]);

// ---------------------------------------------------------------------------------------------
// Connection-level payloads

export const ConnectedOut = z.object({
  user_id: Id,
  role: RoleSchema,
  chat_id: Id.optional(),
  server_time: Timestamp,
  connection_id: Id,
  resume_from: SeqCursor.optional(),
  /** Staff: the chats assigned to this user right now (a new tab or device can list them). */
  open_chats: z.array(Id).optional(),
  /** When the connection's token expires: send `refresh_token` before, or the socket closes. */
  token_expires_at: Timestamp.optional(),
});

/** The token of this connection expires soon: send `refresh_token {token}` with a fresh one. */
export const TokenExpiringOut = z.object({ expires_at: Timestamp });

export const AckOut = z.object({
  for: z.enum(INBOUND_TYPES),
  chat_id: Id.optional(),
  seq: Seq.optional(),
  client_msg_id: z.string().min(1).max(64).optional(),
  duplicate: z.boolean().optional(),
  last_read_seq: SeqCursor.optional(),
  unread: z.number().int().nonnegative().optional(),
  /** `refresh_token`: when the fresh token expires. */
  expires_at: Timestamp.optional(),
  /** `note`: the staff members the note mentions (and who were told). */
  mentions: z.array(Id).optional(),
  /** `set_labels`: the chat's labels now. */
  labels: z.array(z.string()).optional(),
});

export const ErrorOut = z.object({
  code: ErrorCodeSchema,
  message: z.string(),
  retryable: z.boolean(),
});

export const PongOut = z.object({ server_time: Timestamp });

/**
 * socket.io only (which has no close codes): why the server is about to end the connection, with
 * the code and reason a WebSocket would get in its close frame.
 */
export const CloseOut = z.object({ code: z.number().int(), reason: z.string() });

/** Server heartbeat; clients that answer `pong {id}` let the server measure latency. */
export const PingOut = z.object({ id: z.string().min(1).max(64), server_time: Timestamp });

// ---------------------------------------------------------------------------------------------
// Session events: stored per chat, each with a gap-free `seq`

const sessionBase = { chat_id: Id, seq: Seq, timestamp: Timestamp };

export const ChannelOut = z.object({
  kind: z.enum(["web", "telegram"]),
  ref: z.string().optional(),
  name: z.string().optional(),
});

export const ChatCreatedOut = z.object({
  ...sessionBase,
  client_id: Id,
  kind: z.enum(["support", "lawyer"]),
  /** Where the client writes from (absent: the web widget). */
  channel: ChannelOut.optional(),
  /** The bot holds the chat until it escalates it to the queue. */
  held: z.boolean().optional(),
  /** The name the client gave (unverified). */
  client_name: z.string().optional(),
  /** Left while nobody was online: the client expects an answer later (e-mail on the profile). */
  offline: z.boolean().optional(),
  /** A lawyer chat: the support chat it was opened from, who opened it and why. */
  linked_chat_id: Id.optional(),
  assigned_by: Id.optional(),
  reason: z.string().max(500).optional(),
});

/** A file attached to a message; `url` is the (authenticated) download path. */
export const AttachmentOut = z.object({
  id: Id,
  name: z.string(),
  mime: z.string(),
  size: z.number().int().nonnegative(),
  url: z.string(),
});

/** The bot's answer (seed 004's `bot_response`: content plus intent, confidence, quick replies). */
export const BotResponseOut = z.object({
  ...sessionBase,
  id: z.string(),
  content: z.string(),
  metadata: z.object({
    intent: z.string(),
    confidence: z.number().min(0).max(1),
    quick_replies: z.array(z.string()),
  }),
});

export const ChatEscalatedOut = z.object({ ...sessionBase, reason: z.string() });
export const ChatTitleOut = z.object({ ...sessionBase, title: z.string() });

export const ChatQueuedOut = z.object({
  ...sessionBase,
  priority: z.number().int(),
  queue: z.string().min(1),
});

export const ChatAssignedOut = z.object({
  ...sessionBase,
  client_id: Id,
  operator_id: Id,
  role: z.enum(["operator", "lawyer"]),
  /** The assignee's display name (from their token), when known: "Anna from support". */
  operator_name: z.string().optional(),
});

export const MessageOut = z.object({
  ...sessionBase,
  sender_id: Id,
  sender_role: RoleSchema,
  message: z.string(),
  client_msg_id: z.string().min(1).max(64).optional(),
  attachments: z.array(AttachmentOut).optional(),
});

export const ReadOut = z.object({
  ...sessionBase,
  user_id: Id,
  /** The reader's role (absent on marks stored before it was kept). */
  role: RoleSchema.optional(),
  last_read_seq: SeqCursor,
});

export const ChatClosedOut = z.object({
  ...sessionBase,
  closed_by: Id,
  closed_by_role: CloserRoleSchema,
  reason: z.string().max(500).optional(),
});

export const ChatRatedOut = z.object({
  ...sessionBase,
  score: z.number().int().min(1).max(5),
  comment: z.string().max(2000).optional(),
});

export const ChatTransferredOut = z.object({
  ...sessionBase,
  from_operator_id: Id.optional(),
  to_operator_id: Id.optional(),
  to_queue: z.boolean(),
  reason: z.string().min(1).max(500),
  by: Id,
  /** The new operator's display name, when known (absent for a transfer to the queue). */
  operator_name: z.string().optional(),
});

export const LawyerAssignedOut = z.object({
  ...sessionBase,
  lawyer_id: Id,
  lawyer_chat_id: Id,
  by: Id,
  reason: z.string().max(500).optional(),
  lawyer_name: z.string().optional(),
});

// ---------------------------------------------------------------------------------------------
// Staff stream of a chat: internal notes and labels, with a seq of their own (staff only)

export const NoteOut = z.object({
  ...sessionBase,
  author_id: Id,
  author_role: z.enum(["operator", "lawyer", "admin"]),
  text: z.string(),
  /** Staff members named `@<id>` in the text (each was sent `mention`). */
  mentions: z.array(Id),
});

export const LabelsOut = z.object({ ...sessionBase, labels: z.array(z.string()), by: Id });

/** To a staff member named in a note: they may now read the chat and its notes (read-only). */
export const MentionOut = z.object({
  chat_id: Id,
  by: Id,
  note_seq: Seq,
  text: z.string(),
});

// ---------------------------------------------------------------------------------------------
// Not stored (no seq)

export const TypingOut = z.object({
  chat_id: Id,
  user_id: Id,
  role: RoleSchema,
  is_typing: z.boolean(),
});

export const ResumedOut = z.object({
  chat_id: Id,
  from_seq: SeqCursor,
  to_seq: SeqCursor,
  /** `staff` when the replay was of the chat's staff stream (notes, labels). */
  stream: z.enum(["chat", "staff"]).optional(),
});

const queueEntry = {
  chat_id: Id,
  client_id: Id,
  priority: z.number().int(),
  waiting_since: Timestamp,
};

export const NewChatAvailableOut = z.object({
  ...queueEntry,
  position: z.number().int().min(1).optional(),
});

export const QueueSnapshotOut = z.object({
  queue: z.string().min(1),
  /** The head of the queue: the first chats to be served (at most `head_size`), in order. */
  chats: z.array(z.object(queueEntry).extend({ requeued: z.boolean().optional() })),
  /** How many chats wait in all (may be more than `chats` lists). */
  total: z.number().int().nonnegative().optional(),
  /** Chats assigned to operators in all. */
  active: z.number().int().nonnegative().optional(),
  /** The most chats the head lists (`QUEUE_HEAD_SIZE`). */
  head_size: z.number().int().positive().optional(),
});

/**
 * Changes of the queue's head and counts over one interval (`QUEUE_VIEW_MS`), for connections
 * that asked for it (`features=queue_delta`). Applied in order to the last `queue_snapshot`: see
 * docs/PROTOCOL.md#queue_delta.
 */
export const QueueDeltaOut = z.object({
  queue: z.string().min(1),
  total: z.number().int().nonnegative(),
  active: z.number().int().nonnegative(),
  head_size: z.number().int().positive(),
  /** The head is listed whole in `added`: drop the list first. */
  reset: z.boolean().optional(),
  removed: z.array(z.object({
    chat_id: Id,
    reason: z.enum(["assigned", "closed", "transferred", "expired", "moved"]),
    operator_id: Id.optional(),
  })),
  added: z.array(z.object({
    ...queueEntry,
    position: z.number().int().min(1),
    requeued: z.boolean().optional(),
  })),
});

/** Auto routing: a chat offered to this operator, to accept before `expires_at`. */
export const ChatOfferedOut = z.object({
  ...queueEntry,
  expires_at: Timestamp,
});

export const ChatRemovedOut = z.object({
  chat_id: Id,
  /** `moved`: still waiting, but no longer in the head of the queue (others went ahead). */
  reason: z.enum(["assigned", "closed", "transferred", "expired", "moved"]),
  operator_id: Id.optional(),
});

export const QueuePositionOut = z.object({
  chat_id: Id,
  position: z.number().int().min(1),
  estimated_wait_s: z.number().nonnegative().nullable(),
});

export const OperatorStatusOut = z.object({ operator_id: Id, status: OperatorStatusSchema });

// ---------------------------------------------------------------------------------------------
// Envelopes

const outbound = envelope;

/** Envelope schema per session-event type (the frames that carry `seq` and are stored). */
export const SESSION_EVENT_FRAMES = {
  chat_created: outbound("chat_created", ChatCreatedOut),
  chat_queued: outbound("chat_queued", ChatQueuedOut),
  chat_assigned: outbound("chat_assigned", ChatAssignedOut),
  message: outbound("message", MessageOut),
  read: outbound("read", ReadOut),
  chat_closed: outbound("chat_closed", ChatClosedOut),
  chat_rated: outbound("chat_rated", ChatRatedOut),
  chat_transferred: outbound("chat_transferred", ChatTransferredOut),
  lawyer_assigned: outbound("lawyer_assigned", LawyerAssignedOut),
  bot_response: outbound("bot_response", BotResponseOut),
  chat_escalated: outbound("chat_escalated", ChatEscalatedOut),
  chat_title: outbound("chat_title", ChatTitleOut),
} as const;

/** Envelope schema per staff-stream event (stored, with a seq of the chat's staff stream). */
export const STAFF_EVENT_FRAMES = {
  note: outbound("note", NoteOut),
  labels: outbound("labels", LabelsOut),
} as const;

/** Envelope schema per outbound type. */
export const OUTBOUND_FRAMES = {
  connected: outbound("connected", ConnectedOut),
  ack: outbound("ack", AckOut),
  error: outbound("error", ErrorOut),
  pong: outbound("pong", PongOut),
  ping: outbound("ping", PingOut),
  close: outbound("close", CloseOut),
  token_expiring: outbound("token_expiring", TokenExpiringOut),
  ...SESSION_EVENT_FRAMES,
  ...STAFF_EVENT_FRAMES,
  mention: outbound("mention", MentionOut),
  typing: outbound("typing", TypingOut),
  resumed: outbound("resumed", ResumedOut),
  new_chat_available: outbound("new_chat_available", NewChatAvailableOut),
  queue_snapshot: outbound("queue_snapshot", QueueSnapshotOut),
  queue_delta: outbound("queue_delta", QueueDeltaOut),
  chat_offered: outbound("chat_offered", ChatOfferedOut),
  chat_removed: outbound("chat_removed", ChatRemovedOut),
  queue_position: outbound("queue_position", QueuePositionOut),
  operator_status: outbound("operator_status", OperatorStatusOut),
} as const;

export type OutboundType = keyof typeof OUTBOUND_FRAMES;
export type SessionEventType = keyof typeof SESSION_EVENT_FRAMES;

/** Every outbound frame type name. */
export const OUTBOUND_TYPES = Object.keys(OUTBOUND_FRAMES) as [OutboundType, ...OutboundType[]];
/** The outbound types that are session events (stored, with `seq`). */
export const SESSION_EVENT_TYPES = Object.keys(SESSION_EVENT_FRAMES) as [
  SessionEventType,
  ...SessionEventType[],
];

type OutboundFrameSchemaOf = (typeof OUTBOUND_FRAMES)[OutboundType];
type SessionEventSchemaOf = (typeof SESSION_EVENT_FRAMES)[SessionEventType];

/** Discriminated union (on `type`) of every outbound frame. */
export const OutboundFrameSchema = z.discriminatedUnion(
  "type",
  Object.values(OUTBOUND_FRAMES) as [OutboundFrameSchemaOf, ...OutboundFrameSchemaOf[]],
);

/** Discriminated union (on `type`) of the session-event frames. */
export const SessionEventFrameSchema = z.discriminatedUnion(
  "type",
  Object.values(SESSION_EVENT_FRAMES) as [SessionEventSchemaOf, ...SessionEventSchemaOf[]],
);

export type OutboundFrame = z.infer<typeof OutboundFrameSchema>;
export type SessionEventFrame = z.infer<typeof SessionEventFrameSchema>;
export type OutboundFrameOf<T extends OutboundType> = z.infer<(typeof OUTBOUND_FRAMES)[T]>;
export type OutboundPayload<T extends OutboundType> = OutboundFrameOf<T>["payload"];

export function isSessionEventType(type: unknown): type is SessionEventType {
  return typeof type === "string" && Object.hasOwn(SESSION_EVENT_FRAMES, type);
}

export type StaffEventType = keyof typeof STAFF_EVENT_FRAMES;

/** A frame of a chat's staff stream (its `seq` counts on that stream, not the chat's). */
export function isStaffEventType(type: unknown): type is StaffEventType {
  return typeof type === "string" && Object.hasOwn(STAFF_EVENT_FRAMES, type);
}

/**
 * Builds an outbound frame; the payload's type follows from `type`. Does not validate at run
 * time (use {@link OutboundFrameSchema} for that). `ref` is omitted when not given.
 */
export function frame<T extends OutboundType>(
  type: T,
  payload: OutboundPayload<T>,
  ref?: string,
): OutboundFrameOf<T> {
  const out = ref === undefined ? { type, payload } : { type, payload, ref };
  return out as OutboundFrameOf<T>;
}

/** An `error` frame from an {@link AppError} or a bare code (message from the code table). */
export function errorFrame(err: AppError | ErrorCode, ref?: string): OutboundFrameOf<"error"> {
  const e = typeof err === "string" ? new AppError(err) : err;
  return frame("error", e.toWire(), ref);
}
