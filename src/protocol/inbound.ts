/**
 * Wire primitives shared by both directions, and every inbound WebSocket frame (client or
 * staff → server) as a zod schema. Types are inferred from the schemas.
 *
 * Envelope: `{ type, payload, ref? }`. Payloads are loose objects: unknown extra fields are kept
 * and ignored (forward compatibility); the listed fields are validated.
 */
import { z } from "zod";
import { MAX_JSON_DEPTH, refOfValue, scanJson, valueTooDeep } from "./json_depth.ts";

// ---------------------------------------------------------------------------------------------
// Primitives

/** Correlation id chosen by the sender of an inbound frame; echoed on its `ack` or `error`. */
export const Ref = z.string().min(1).max(64);

/** Ids are 1 to 128 printable ASCII characters without spaces (they become storage keys). */
export const ID_CHARS = /^[\x21-\x7e]{1,128}$/;

/**
 * An id as clients may send it: a string (1..128 printable ASCII characters, no spaces) or, for
 * legacy clients, an integer. Always a string after parsing.
 */
export const WireId = z
  .union([z.string().regex(ID_CHARS), z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)], {
    error: "expected an id: 1 to 128 printable ASCII characters without spaces, or an integer",
  })
  .transform(String);

/** An id as the server sends it: always a string. */
export const Id = z.string().min(1).max(128);

/** ISO-8601 timestamp with a `Z` or numeric offset, e.g. `2026-01-01T12:00:00.000Z`. */
export const Timestamp = z.iso.datetime({ offset: true });

/** Per-chat event sequence number: gap-free, starts at 1. */
export const Seq = z.number().int().positive();

/** A sequence position a client reports: 0 means "nothing seen yet". */
export const SeqCursor = z.number().int().nonnegative();

export const RoleSchema = z.enum(["client", "operator", "lawyer", "admin"]);
export const OperatorStatusSchema = z.enum(["online", "away", "busy", "offline"]);

/** Longest text the schema accepts; the configured (smaller) limit is enforced by the server. */
export const MAX_TEXT_CHARS = 65_536;

// ---------------------------------------------------------------------------------------------
// Inbound payloads

export const MessageIn = z.looseObject({
  /** May be empty when the message carries attachments. */
  text: z.string().max(MAX_TEXT_CHARS).default(""),
  chat_id: WireId.optional(),
  client_msg_id: z.string().min(1).max(64).optional(),
  /** Ids of files uploaded first (POST /chats/{id}/attachments). */
  attachments: z.array(WireId).max(10).optional(),
}).refine((m) => m.text.length > 0 || (m.attachments?.length ?? 0) > 0, {
  message: "text or attachments is required",
  path: ["text"],
});

export const AcceptChatIn = z.looseObject({
  chat_id: WireId,
  client_id: WireId.optional(),
});

export const TransferChatIn = z.looseObject({
  chat_id: WireId,
  target_operator_id: WireId.optional(),
  to_queue: z.boolean().optional(),
  reason: z.string().min(1).max(500),
});

export const AssignLawyerIn = z
  .looseObject({
    client_id: WireId.optional(),
    chat_id: WireId.optional(),
    lawyer_id: WireId,
    /** Why the lawyer is needed: shown in both chats (`lawyer_assigned`, `chat_created`). */
    reason: z.string().max(500).optional(),
  })
  .refine((p) => p.client_id !== undefined || p.chat_id !== undefined, {
    message: "client_id or chat_id is required",
    path: ["client_id"],
  });

export const TypingIn = z.looseObject({
  chat_id: WireId.optional(),
  is_typing: z.boolean(),
});

export const ReadIn = z.looseObject({
  chat_id: WireId.optional(),
  seq: SeqCursor,
});

export const ResumeIn = z.looseObject({
  chat_id: WireId.optional(),
  last_seq: SeqCursor,
  /** `staff`: the chat's staff stream (notes, labels; its own seq), for staff who may read it. */
  stream: z.enum(["chat", "staff"]).optional(),
});

export const CloseChatIn = z.looseObject({
  chat_id: WireId.optional(),
  reason: z.string().max(500).optional(),
});

export const RateIn = z.looseObject({
  chat_id: WireId.optional(),
  score: z.number().int().min(1).max(5),
  comment: z.string().max(2000).optional(),
});

export const SetStatusIn = z.looseObject({
  status: OperatorStatusSchema,
});

/** Longest internal note (characters). */
export const MAX_NOTE_CHARS = 4000;
/** Labels a chat may carry, and the length of one. */
export const MAX_LABELS = 10;
export const MAX_LABEL_CHARS = 32;

/** A label: 1–32 characters after trimming, no control characters. */
export const Label = z.string().trim().min(1).max(MAX_LABEL_CHARS)
  .regex(/^[^\p{Cc}\p{Cf}]+$/u, "no control or format characters");

/** Staff only: an internal note in a chat, never shown to its client; `@<id>` mentions staff. */
export const NoteIn = z.looseObject({
  chat_id: WireId.optional(),
  text: z.string().trim().min(1).max(MAX_NOTE_CHARS),
});

/** Staff only: the chat's labels, all of them (an empty list removes every label). */
export const SetLabelsIn = z.looseObject({
  chat_id: WireId.optional(),
  labels: z.array(Label).max(MAX_LABELS),
});

/** `ping` may omit its payload; it then parses as `{}`. */
export const PingIn = z.looseObject({}).default({});

/** The answer to a server heartbeat `ping`; it gets no reply. */
export const PongIn = z.looseObject({ id: z.string().min(1).max(64) });

/** A fresh token for this open connection (same user; for a chat token, the same chat). */
export const RefreshTokenIn = z.looseObject({ token: z.string().min(1).max(8192) });

/** The envelope `{type, payload, ref?}` of one frame type, in either direction. */
export function envelope<T extends string, P extends z.ZodType>(type: T, payload: P) {
  return z.object({ type: z.literal(type), payload, ref: Ref.optional() });
}

const inbound = envelope;

/** Envelope schema per inbound type. */
export const INBOUND_FRAMES = {
  message: inbound("message", MessageIn),
  accept_chat: inbound("accept_chat", AcceptChatIn),
  transfer_chat: inbound("transfer_chat", TransferChatIn),
  assign_lawyer: inbound("assign_lawyer", AssignLawyerIn),
  typing: inbound("typing", TypingIn),
  read: inbound("read", ReadIn),
  resume: inbound("resume", ResumeIn),
  close_chat: inbound("close_chat", CloseChatIn),
  rate: inbound("rate", RateIn),
  set_status: inbound("set_status", SetStatusIn),
  ping: inbound("ping", PingIn),
  pong: inbound("pong", PongIn),
  refresh_token: inbound("refresh_token", RefreshTokenIn),
  note: inbound("note", NoteIn),
  set_labels: inbound("set_labels", SetLabelsIn),
} as const;

export type InboundType = keyof typeof INBOUND_FRAMES;

/** Every inbound frame type name. */
export const INBOUND_TYPES = Object.keys(INBOUND_FRAMES) as [InboundType, ...InboundType[]];

type InboundFrameSchemaOf = (typeof INBOUND_FRAMES)[InboundType];

/** Discriminated union (on `type`) of every inbound frame. */
export const InboundFrameSchema = z.discriminatedUnion(
  "type",
  Object.values(INBOUND_FRAMES) as [InboundFrameSchemaOf, ...InboundFrameSchemaOf[]],
);

/** A parsed inbound frame: ids are strings, `ping` always has a payload. */
export type InboundFrame = z.infer<typeof InboundFrameSchema>;
export type InboundFrameOf<T extends InboundType> = Extract<InboundFrame, { type: T }>;
export type InboundPayload<T extends InboundType> = InboundFrameOf<T>["payload"];

export function isInboundType(type: unknown): type is InboundType {
  return typeof type === "string" && Object.hasOwn(INBOUND_FRAMES, type);
}

// ---------------------------------------------------------------------------------------------
// Parsing

export type InboundErrorCode = "bad_json" | "unknown_type" | "invalid_payload";

export type ParseInboundResult =
  | { ok: true; frame: InboundFrame }
  | { ok: false; code: InboundErrorCode; message: string; ref?: string };

const MAX_LISTED_ISSUES = 3;

/**
 * Parses one text frame. Never throws. On failure the result carries the frame's `ref` whenever
 * the frame had a valid one, so the `error` reply can echo it.
 */
export function parseInbound(raw: string): ParseInboundResult {
  const scan = scanJson(raw);
  if (scan.tooDeep) return tooDeep(scan.ref);
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return { ok: false, code: "bad_json", message: "Frame is not valid JSON." };
  }
  return parseInboundValue(data);
}

/** Validates an already decoded frame (e.g. from socket.io, which carries JSON values). */
export function parseInboundValue(data: unknown): ParseInboundResult {
  if (valueTooDeep(data)) return tooDeep(refOfValue(data));
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    return {
      ok: false,
      code: "invalid_payload",
      message: "Frame must be a JSON object with type and payload.",
    };
  }
  const obj = data as Record<string, unknown>;
  const refResult = Ref.safeParse(obj.ref);
  const ref = refResult.success ? refResult.data : undefined;
  const fail = (code: InboundErrorCode, message: string): ParseInboundResult =>
    ref === undefined ? { ok: false, code, message } : { ok: false, code, message, ref };

  const type = obj.type;
  if (typeof type !== "string") {
    return fail("invalid_payload", "Invalid frame: type must be a string.");
  }
  if (!isInboundType(type)) {
    return fail("unknown_type", `Frame type ${JSON.stringify(type.slice(0, 64))} is not known.`);
  }
  const result = INBOUND_FRAMES[type].safeParse(obj);
  if (!result.success) {
    return fail("invalid_payload", describeIssues(type, result.error.issues));
  }
  return { ok: true, frame: result.data as InboundFrame };
}

function tooDeep(ref: string | undefined): ParseInboundResult {
  const message = `Frame nests deeper than ${MAX_JSON_DEPTH} levels.`;
  return ref === undefined
    ? { ok: false, code: "invalid_payload", message }
    : { ok: false, code: "invalid_payload", message, ref };
}

/** The `ref` of a frame not parsed yet (one refused before parsing still has it echoed). */
export function inboundRef(input: string | { value: unknown }): string | undefined {
  return typeof input === "string" ? scanJson(input).ref : refOfValue(input.value);
}

function describeIssues(type: string, issues: readonly z.core.$ZodIssue[]): string {
  const parts = issues.slice(0, MAX_LISTED_ISSUES).map((issue) => {
    const path = issue.path.length === 0 ? "frame" : issue.path.map(String).join(".");
    return `${path} (${issue.message})`;
  });
  const more = issues.length > MAX_LISTED_ISSUES
    ? ` and ${issues.length - MAX_LISTED_ISSUES} more`
    : "";
  return `Invalid ${type} frame: ${parts.join(", ")}${more}.`;
}
