import assert from "node:assert/strict";
import type { Role } from "../../src/auth/principal.ts";
import { AppError, ERROR_CODES } from "../../src/errors.ts";
import {
  errorFrame,
  frame,
  INBOUND_TYPES,
  type InboundFrame,
  type InboundType,
  OUTBOUND_TYPES,
  OutboundFrameSchema,
  type OutboundPayload,
  parseInbound,
  type ParseInboundResult,
  SESSION_EVENT_TYPES,
  SessionEventFrameSchema,
} from "../../src/protocol/mod.ts";

function ok(raw: unknown): InboundFrame {
  const result = parseInbound(typeof raw === "string" ? raw : JSON.stringify(raw));
  if (!result.ok) throw new Error(`expected ok, got ${result.code}: ${result.message}`);
  return result.frame;
}

function failed(raw: unknown): Extract<ParseInboundResult, { ok: false }> {
  const result = parseInbound(typeof raw === "string" ? raw : JSON.stringify(raw));
  if (result.ok) throw new Error(`expected failure, got ${JSON.stringify(result.frame)}`);
  return result;
}

const VALID_INBOUND: Record<InboundType, unknown> = {
  message: { text: "Hello", chat_id: "c1", client_msg_id: "m-1" },
  accept_chat: { chat_id: "c1", client_id: "u1" },
  transfer_chat: { chat_id: "c1", target_operator_id: "op2", reason: "Specialisation" },
  assign_lawyer: { client_id: "u1", lawyer_id: "l1" },
  typing: { chat_id: "c1", is_typing: true },
  read: { chat_id: "c1", seq: 7 },
  resume: { chat_id: "c1", last_seq: 0 },
  close_chat: { chat_id: "c1", reason: "Solved" },
  rate: { chat_id: "c1", score: 5, comment: "Thanks" },
  set_status: { status: "away" },
  ping: {},
  pong: { id: "h1" },
  refresh_token: { token: "c1.x.y.1.z" },
  note: { chat_id: "c1", text: "VIP client, see @op-2" },
  set_labels: { chat_id: "c1", labels: ["billing", "vip"] },
};

for (const type of INBOUND_TYPES) {
  Deno.test(`inbound ${type}: a valid example parses and keeps its ref`, () => {
    const f = ok({ type, payload: VALID_INBOUND[type], ref: "r-1" });
    assert.equal(f.type, type);
    assert.equal(f.ref, "r-1");
    assert.deepEqual(f.payload, VALID_INBOUND[type]);
  });
}

Deno.test("inbound type list covers exactly the documented types", () => {
  assert.deepEqual([...INBOUND_TYPES].sort(), [
    "accept_chat",
    "assign_lawyer",
    "close_chat",
    "message",
    "note",
    "ping",
    "pong",
    "rate",
    "read",
    "refresh_token",
    "resume",
    "set_labels",
    "set_status",
    "transfer_chat",
    "typing",
  ]);
});

Deno.test("legacy frames from the old API parse, with numeric ids coerced to strings", () => {
  const accept = ok({ type: "accept_chat", payload: { client_id: 123, chat_id: 456 } });
  assert.deepEqual(accept.payload, { client_id: "123", chat_id: "456" });
  const transfer = ok({
    type: "transfer_chat",
    payload: { chat_id: 456, target_operator_id: 789, reason: "Специализация" },
  });
  assert.deepEqual(transfer.payload, {
    chat_id: "456",
    target_operator_id: "789",
    reason: "Специализация",
  });
  const assign = ok({ type: "assign_lawyer", payload: { client_id: 123, lawyer_id: 456 } });
  assert.deepEqual(assign.payload, { client_id: "123", lawyer_id: "456" });
  const message = ok({ type: "message", payload: { text: "Текст сообщения" } });
  assert.deepEqual(message.payload, { text: "Текст сообщения" });
  assert.equal(message.ref, undefined);
});

Deno.test("ping without a payload parses with an empty payload", () => {
  const f = ok({ type: "ping" });
  assert.deepEqual(f, { type: "ping", payload: {} });
});

Deno.test("unknown payload fields are kept; unknown envelope fields are dropped", () => {
  const f = ok({ type: "typing", payload: { is_typing: false, future: 1 }, extra: true });
  assert.deepEqual(f, { type: "typing", payload: { is_typing: false, future: 1 } });
});

Deno.test("text that is not JSON is bad_json", () => {
  const r = failed("{not json");
  assert.equal(r.code, "bad_json");
  assert.equal(r.ref, undefined);
});

Deno.test("JSON that is not an object is invalid_payload", () => {
  assert.equal(failed("[1,2]").code, "invalid_payload");
  assert.equal(failed("null").code, "invalid_payload");
  assert.equal(failed('"ping"').code, "invalid_payload");
});

Deno.test("an unknown type is unknown_type and echoes the ref", () => {
  const r = failed({ type: "dance", payload: {}, ref: "abc" });
  assert.equal(r.code, "unknown_type");
  assert.equal(r.ref, "abc");
  assert.match(r.message, /dance/);
});

Deno.test("inherited property names are not mistaken for frame types", () => {
  for (const type of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
    assert.equal(failed({ type, payload: {} }).code, "unknown_type");
  }
});

Deno.test("a missing or non-string type is invalid_payload naming type", () => {
  const r = failed({ payload: {}, ref: "r9" });
  assert.equal(r.code, "invalid_payload");
  assert.equal(r.ref, "r9");
  assert.match(r.message, /type/);
  assert.equal(failed({ type: 5, payload: {} }).code, "invalid_payload");
});

Deno.test("a schema violation is invalid_payload, echoes the ref and names the field", () => {
  const r = failed({ type: "rate", payload: { chat_id: "c1", score: 9 }, ref: "r-7" });
  assert.equal(r.code, "invalid_payload");
  assert.equal(r.ref, "r-7");
  assert.match(r.message, /payload\.score/);
  assert.doesNotMatch(r.message, /chat_id/);
});

Deno.test("every offending field is named when several are wrong", () => {
  const r = failed({ type: "transfer_chat", payload: { chat_id: 1.5, reason: "" }, ref: "x" });
  assert.match(r.message, /payload\.chat_id/);
  assert.match(r.message, /payload\.reason/);
});

Deno.test("a missing payload is invalid_payload naming payload", () => {
  const r = failed({ type: "message", ref: "m" });
  assert.equal(r.code, "invalid_payload");
  assert.equal(r.ref, "m");
  assert.match(r.message, /payload/);
});

Deno.test("assign_lawyer needs client_id or chat_id", () => {
  const r = failed({ type: "assign_lawyer", payload: { lawyer_id: "l1" }, ref: "a" });
  assert.equal(r.code, "invalid_payload");
  assert.match(r.message, /client_id or chat_id/);
  assert.deepEqual(ok({ type: "assign_lawyer", payload: { chat_id: 4, lawyer_id: 5 } }).payload, {
    chat_id: "4",
    lawyer_id: "5",
  });
});

Deno.test("field limits are validated", () => {
  const bad: [string, unknown][] = [
    ["message", { text: "" }],
    ["message", { text: "x".repeat(65_537) }],
    ["message", { text: "hi", client_msg_id: "m".repeat(65) }],
    ["message", { text: "hi", chat_id: "" }],
    ["message", { text: "hi", chat_id: "c".repeat(129) }],
    ["read", { seq: -1 }],
    ["resume", { last_seq: 1.5 }],
    ["rate", { score: 0 }],
    ["close_chat", { reason: "r".repeat(501) }],
    ["set_status", { status: "sleeping" }],
    ["typing", { is_typing: "yes" }],
    ["transfer_chat", { chat_id: "c1", reason: "r".repeat(501) }],
    ["assign_lawyer", { chat_id: "c1", lawyer_id: "l1", reason: "r".repeat(501) }],
    ["resume", { last_seq: 0, stream: "notes" }],
    ["note", { chat_id: "c1", text: "" }],
    ["note", { chat_id: "c1", text: "   " }],
    ["note", { chat_id: "c1", text: "n".repeat(4001) }],
    ["set_labels", { chat_id: "c1", labels: Array.from({ length: 11 }, (_, i) => `l${i}`) }],
    ["set_labels", { chat_id: "c1", labels: ["x".repeat(33)] }],
    ["set_labels", { chat_id: "c1", labels: [" "] }],
    ["set_labels", { chat_id: "c1", labels: ["bad\u0007bell"] }],
    ["set_labels", { chat_id: "c1" }],
  ];
  for (const [type, payload] of bad) {
    assert.equal(failed({ type, payload }).code, "invalid_payload", `${type} ${payload}`);
  }
  assert.equal(ok({ type: "message", payload: { text: "x".repeat(65_536) } }).type, "message");
});

Deno.test("an invalid ref is reported as invalid_payload and not echoed", () => {
  const long = "r".repeat(65);
  const r = failed({ type: "ping", payload: {}, ref: long });
  assert.equal(r.code, "invalid_payload");
  assert.equal(r.ref, undefined);
  assert.match(r.message, /ref/);
  assert.equal(failed({ type: "ping", ref: 12 }).code, "invalid_payload");
  assert.equal(failed({ type: "nope", ref: "" }).ref, undefined);
});

const TS = "2026-01-01T12:00:00.000Z";

Deno.test("outbound builder examples validate against the outbound schema", () => {
  const frames = [
    frame("connected", {
      user_id: "u1",
      role: "client",
      chat_id: "c1",
      server_time: TS,
      connection_id: "conn-1",
      resume_from: 3,
    }),
    frame("ack", { for: "message", chat_id: "c1", seq: 4, client_msg_id: "m-1" }, "r-1"),
    frame("ack", { for: "message", chat_id: "c1", seq: 4, client_msg_id: "m-1", duplicate: true }),
    frame("ack", { for: "read", chat_id: "c1", last_read_seq: 4, unread: 0 }, "r-2"),
    frame("error", { code: "rate_limited", message: "Slow down", retryable: true }, "r-3"),
    frame("pong", { server_time: TS }),
    frame("ping", { id: "h1", server_time: TS }),
    frame("close", { code: 4001, reason: "slow_consumer" }),
    frame("chat_created", {
      chat_id: "c1",
      seq: 1,
      timestamp: TS,
      client_id: "u1",
      kind: "support",
    }),
    frame("chat_queued", { chat_id: "c1", seq: 2, timestamp: TS, priority: 0, queue: "support" }),
    frame("chat_assigned", {
      chat_id: "c1",
      seq: 3,
      timestamp: TS,
      client_id: "u1",
      operator_id: "op1",
      role: "operator",
    }),
    frame("message", {
      chat_id: "c1",
      seq: 4,
      timestamp: TS,
      sender_id: "u1",
      sender_role: "client",
      message: "Hello",
      client_msg_id: "m-1",
    }),
    frame("read", { chat_id: "c1", seq: 5, timestamp: TS, user_id: "op1", last_read_seq: 4 }),
    frame("chat_transferred", {
      chat_id: "c1",
      seq: 6,
      timestamp: TS,
      from_operator_id: "op1",
      to_queue: true,
      reason: "Specialisation",
      by: "op1",
    }),
    frame("chat_closed", {
      chat_id: "c1",
      seq: 7,
      timestamp: TS,
      closed_by: "op2",
      closed_by_role: "operator",
      reason: "Solved",
    }),
    frame("chat_rated", { chat_id: "c1", seq: 8, timestamp: TS, score: 5 }),
    frame("lawyer_assigned", {
      chat_id: "c1",
      seq: 9,
      timestamp: TS,
      lawyer_id: "law-1",
      lawyer_chat_id: "c2",
      by: "op1",
    }),
    frame("bot_response", {
      chat_id: "c1",
      seq: 10,
      timestamp: TS,
      id: "c1:10",
      content: "Our hours are 9 to 5.",
      metadata: { intent: "hours", confidence: 0.9, quick_replies: ["Talk to a human"] },
    }),
    frame("chat_escalated", { chat_id: "c1", seq: 11, timestamp: TS, reason: "asked for a human" }),
    frame("chat_title", { chat_id: "c1", seq: 12, timestamp: TS, title: "Refund for order 42" }),
    frame("message", {
      chat_id: "c1",
      seq: 13,
      timestamp: TS,
      sender_id: "u1",
      sender_role: "client",
      message: "",
      attachments: [{
        id: "f1",
        name: "receipt.pdf",
        mime: "application/pdf",
        size: 1234,
        url: "/api/v1/chat/chats/c1/attachments/f1",
      }],
    }),
    frame("chat_offered", {
      chat_id: "c3",
      client_id: "u3",
      priority: 0,
      waiting_since: TS,
      expires_at: TS,
    }),
    frame("typing", { chat_id: "c1", user_id: "op1", role: "operator", is_typing: true }),
    frame("resumed", { chat_id: "c1", from_seq: 3, to_seq: 8 }),
    frame("resumed", { chat_id: "c1", from_seq: 0, to_seq: 2, stream: "staff" }),
    frame("note", {
      chat_id: "c1",
      seq: 1,
      timestamp: TS,
      author_id: "op1",
      author_role: "operator",
      text: "Asked for a refund twice, @op2",
      mentions: ["op2"],
    }),
    frame("labels", { chat_id: "c1", seq: 2, timestamp: TS, labels: ["refund"], by: "op1" }),
    frame("mention", { chat_id: "c1", by: "op1", note_seq: 1, text: "see @op2" }),
    frame("new_chat_available", {
      chat_id: "c1",
      client_id: "u1",
      priority: 0,
      waiting_since: TS,
      position: 1,
    }),
    frame("queue_snapshot", {
      queue: "support",
      chats: [{ chat_id: "c1", client_id: "u1", priority: 0, waiting_since: TS }],
    }),
    frame("queue_delta", {
      queue: "support",
      total: 7,
      active: 2,
      head_size: 50,
      removed: [{ chat_id: "c0", reason: "assigned", operator_id: "op1" }, {
        chat_id: "c9",
        reason: "moved",
      }],
      added: [{ chat_id: "c2", client_id: "u2", priority: 1, waiting_since: TS, position: 1 }],
    }),
    frame("chat_removed", { chat_id: "c1", reason: "assigned", operator_id: "op1" }),
    frame("queue_position", { chat_id: "c1", position: 2, estimated_wait_s: null }),
    frame("operator_status", { operator_id: "op1", status: "busy" }),
    frame("token_expiring", { expires_at: TS }),
  ];
  const seen = new Set(frames.map((f) => f.type));
  assert.deepEqual([...seen].sort(), [...OUTBOUND_TYPES].sort(), "every outbound type is built");
  for (const f of frames) {
    const r = OutboundFrameSchema.safeParse(JSON.parse(JSON.stringify(f)));
    assert.ok(r.success, `${f.type}: ${r.error?.message}`);
    assert.deepEqual(r.data, f);
  }
});

Deno.test("the builder sets ref only when given", () => {
  assert.deepEqual(frame("pong", { server_time: TS }), {
    type: "pong",
    payload: { server_time: TS },
  });
  assert.equal(frame("pong", { server_time: TS }, "p1").ref, "p1");
  assert.ok(!("ref" in frame("pong", { server_time: TS })));
});

Deno.test("errorFrame takes retryable and message from the error-code table", () => {
  assert.deepEqual(errorFrame("overloaded", "r"), {
    type: "error",
    payload: { code: "overloaded", message: ERROR_CODES.overloaded.text, retryable: true },
    ref: "r",
  });
  const f = errorFrame(new AppError("not_found", "No chat c9"));
  assert.deepEqual(f.payload, { code: "not_found", message: "No chat c9", retryable: false });
  assert.ok(OutboundFrameSchema.safeParse(f).success);
});

Deno.test("outbound schemas reject malformed frames", () => {
  const bad = [
    { type: "error", payload: { code: "no_such_code", message: "x", retryable: false } },
    { type: "message", payload: { chat_id: "c1", seq: 0, timestamp: TS, sender_id: "u1" } },
    { type: "ack", payload: { for: "dance" } },
    { type: "pong", payload: { server_time: "yesterday" } },
    { type: "queue_position", payload: { chat_id: "c1", position: 0, estimated_wait_s: 5 } },
    { type: "chat_assigned", payload: { chat_id: 456, seq: 1, timestamp: TS } },
    { type: "whatever", payload: {} },
  ];
  for (const f of bad) assert.ok(!OutboundFrameSchema.safeParse(f).success, f.type);
});

Deno.test("session-event types are exactly the outbound frames that carry seq", () => {
  assert.deepEqual([...SESSION_EVENT_TYPES].sort(), [
    "bot_response",
    "chat_assigned",
    "chat_closed",
    "chat_created",
    "chat_escalated",
    "chat_queued",
    "chat_rated",
    "chat_title",
    "chat_transferred",
    "lawyer_assigned",
    "message",
    "read",
  ]);
  const typing = frame("typing", { chat_id: "c1", user_id: "u", role: "client", is_typing: true });
  assert.ok(!SessionEventFrameSchema.safeParse(typing).success);
});

Deno.test("types: parsed frames narrow on type and the builder rejects mismatched payloads", () => {
  const f = ok({ type: "message", payload: { text: "hi", chat_id: 7 } });
  if (f.type === "message") {
    const chatId: string | undefined = f.payload.chat_id;
    assert.equal(chatId, "7");
  } else {
    assert.fail("expected a message frame");
  }
  // @ts-expect-error pong needs server_time, not seq
  frame("pong", { seq: 1 });
  // @ts-expect-error ids on the wire out are strings
  frame("chat_removed", { chat_id: 1, reason: "closed" });
  // @ts-expect-error not an error code from src/errors.ts
  frame("error", { code: "nope", message: "x", retryable: false });
  // The wire roles are exactly the principal roles, both ways.
  const wireRole: OutboundPayload<"connected">["role"] = "lawyer" as Role;
  const role: Role = wireRole;
  assert.equal(role, "lawyer");
});
