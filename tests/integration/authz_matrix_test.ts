/**
 * The authorization matrix: every REST operation of the served OpenAPI document and every inbound
 * frame type, times every kind of caller, with the expected answer of each cell. Both lists come
 * from the server itself (`/openapi.json`, `INBOUND_TYPES`), so a new route or frame type without
 * its row here fails the test.
 *
 * Callers are fixed people; a chat under test is C (alice's support chat, owned by op-1), L
 * (alice's lawyer chat, owned by law-1, assigned from C) or K (alice's earlier support chat, once
 * op-1's and now closed: operators read closed support chats, nobody writes to them). The caller "visitor" holds the chat token of the chat
 * under test (or alice's visitor token where a row asks for visitor tokens); "twin" is a visitor
 * whose id equals the operator's (`op-1`). Outcomes: `ok` (answered, not refused: 2xx, an ack,
 * or a refusal for the chat's state such as `already_assigned`), `deny` (403 / `forbidden`),
 * `unauth` (401 / `unauthorized`). A 5xx anywhere fails.
 */
import assert from "node:assert/strict";
import { INBOUND_TYPES, type InboundType } from "../../src/protocol/mod.ts";
import { type CreatedChat, startTestServer, type TestServer, WsClient } from "./_harness.ts";
import { assertAck } from "./_routing_util.ts";
import { Sockets } from "./_util.ts";
import { searchOf } from "../../src/integrations/search/mod.ts";

const CALLERS = [
  "anonymous",
  "visitor",
  "otherVisitor",
  "twin",
  "owner",
  "otherOperator",
  "lawyer",
  "otherLawyer",
  "admin",
] as const;
type Caller = typeof CALLERS[number];
type Outcome = "ok" | "deny" | "unauth";
type Target = "C" | "L" | "K";

const STAFF: Record<Caller, [string, "operator" | "lawyer" | "admin"] | null> = {
  anonymous: null,
  visitor: null,
  otherVisitor: null,
  twin: null,
  owner: ["op-1", "operator"],
  otherOperator: ["op-2", "operator"],
  lawyer: ["law-1", "lawyer"],
  otherLawyer: ["law-2", "lawyer"],
  admin: ["adm", "admin"],
};

/** One world per test file: a server, staff tokens, and fixtures made on demand. */
interface World {
  server: TestServer;
  sockets: Sockets;
  staff: Map<Caller, string>;
  /** One socket per staff caller, reused by frame rows. */
  staffSockets: Map<Caller, WsClient>;
  /** SSE streams opened by rows, cancelled at the end. */
  streams: ReadableStreamDefaultReader<string>[];
}

/**
 * Alice's support chat C (owned by op-1), lawyer chat L (law-1) and closed chat K (was op-1's),
 * bob's and the twin's chats.
 */
interface Fixture {
  c: CreatedChat;
  l: { chat_id: string; client_token: string };
  k: CreatedChat;
  /** A file sent in K before it closed. */
  kFile: string;
  /** A word written in C, L and K only (search finds this fixture's chats by it). */
  word: string;
  other: CreatedChat;
  twin: CreatedChat;
}

async function fixture(w: World): Promise<Fixture> {
  const s = w.server;
  const op = w.staffSockets.get("owner")!;
  const word = `matrix${crypto.randomUUID().replace(/[^a-f]/g, "")}`;
  const k = await s.createChat("alice");
  assertAck(await op.request("accept_chat", { chat_id: k.chat_id }));
  assertAck(await op.request("message", { chat_id: k.chat_id, text: `closing soon ${word}` }));
  const kFile = await upload(w, k);
  assertAck(await op.request("close_chat", { chat_id: k.chat_id }));
  const c = await s.createChat("alice");
  assertAck(await op.request("accept_chat", { chat_id: c.chat_id }));
  const lawyer = assertAck(
    await op.request("assign_lawyer", { chat_id: c.chat_id, lawyer_id: "law-1" }),
  );
  const lId = lawyer.payload.chat_id as string;
  assertAck(await op.request("message", { chat_id: c.chat_id, text: `hello ${word}` }));
  assertAck(
    await w.staffSockets.get("lawyer")!.request("message", { chat_id: lId, text: `hi ${word}` }),
  );
  const { token } = await s.auth.issueClientToken(lId, "alice");
  const other = await s.createChat("bob");
  const twin = await s.createChat("op-1");
  return { c, l: { chat_id: lId, client_token: token }, k, kFile, word, other, twin };
}

const chatOf = (fx: Fixture, t: Target) => t === "C" ? fx.c : t === "L" ? fx.l : fx.k;

/** The token a caller presents, relative to the chat under test. */
function tokenOf(
  w: World,
  fx: Fixture,
  who: Caller,
  t: Target,
  visitorTokens = false,
): string | undefined {
  switch (who) {
    case "anonymous":
      return undefined;
    case "visitor":
      return visitorTokens ? fx.c.visitor_token : chatOf(fx, t).client_token;
    case "otherVisitor":
      return visitorTokens ? fx.other.visitor_token : fx.other.client_token;
    case "twin":
      return visitorTokens ? fx.twin.visitor_token : fx.twin.client_token;
    default:
      return w.staff.get(who);
  }
}

// ---------------------------------------------------------------------------------------------
// Expectations

const only = (...allowed: Caller[]) => (who: Caller): Outcome =>
  allowed.includes(who) ? "ok" : who === "anonymous" ? "unauth" : "deny";
/** Anyone with a token. */
const anyToken = (who: Caller): Outcome => (who === "anonymous" ? "unauth" : "ok");
const staffOnly = only("owner", "otherOperator", "lawyer", "otherLawyer", "admin");
const adminOnly = only("admin");
const publicRoute = (): Outcome => "ok";
/**
 * Who may write to the chat under test: its client, its owner (operator or lawyer), admins. On
 * the closed K they are answered `chat_closed` (a refusal for the state: "ok" here), everyone
 * else `forbidden`.
 */
const participants = (t: Target) =>
  t === "L" ? only("visitor", "lawyer", "admin") : only("visitor", "owner", "admin");
/**
 * Who may read it: the participants; the lawyer assigned from C reads C (read-only); any
 * operator reads a closed support chat.
 */
const readers = (t: Target) =>
  t === "C"
    ? only("visitor", "owner", "lawyer", "admin")
    : t === "L"
    ? participants(t)
    : only("visitor", "owner", "otherOperator", "admin");
/** Staff who write the chat's staff side (notes, labels; hints for its replies). */
const staffOfChat = (t: Target) => t === "L" ? only("lawyer", "admin") : only("owner", "admin");
/** Staff who read the chat's client profile. */
const staffReaders = (t: Target) =>
  t === "C"
    ? only("owner", "lawyer", "admin")
    : t === "L"
    ? only("lawyer", "admin")
    : only("owner", "otherOperator", "admin");
/** Only tokens that prove a visitor (chat tokens open one chat; staff have no visitor side). */
const visitorsOnly = only("visitor", "otherVisitor", "twin");

// ---------------------------------------------------------------------------------------------
// REST rows, keyed by `METHOD path` as in the OpenAPI document

interface RestCall {
  method: string;
  path: string;
  body?: unknown;
  raw?: BodyInit;
  contentType?: string;
  /** An event stream: only its status is read. */
  stream?: boolean;
}

interface RestRow {
  targets: Target[];
  expect: (t: Target) => (who: Caller) => Outcome;
  /** Present visitor tokens instead of chat tokens for client callers. */
  visitorTokens?: boolean;
  /** Changes state: a fresh fixture for every cell. */
  mutates?: boolean;
  call: (fx: Fixture, t: Target, w: World) => RestCall | Promise<RestCall>;
  /** A status that means refused for this row (besides 403). */
  refusedAs?: number;
  /** Extra checks of an answer that was let through. */
  check?: (who: Caller, body: unknown, fx: Fixture) => void;
}

const id = (fx: Fixture, t: Target) => chatOf(fx, t).chat_id;
const get = (path: string): RestCall => ({ method: "GET", path });
const post = (path: string, body: unknown = {}): RestCall => ({ method: "POST", path, body });

const REST: Record<string, RestRow> = {
  "POST /api/v1/chat/chats": {
    targets: ["C"],
    // Anonymous starts a chat as a new visitor; a visitor token (see POST /visitors) is the
    // only token that starts one for someone; chat and staff tokens are refused.
    expect: () => only("anonymous"),
    call: () => post("/api/v1/chat/chats"),
  },
  "POST /api/v1/chat/visitors": {
    targets: ["C"],
    expect: () => only("anonymous", "visitor", "otherVisitor", "twin"),
    visitorTokens: true,
    call: () => post("/api/v1/chat/visitors"),
  },
  "GET /api/v1/chat/chats/{chat_id}/history": {
    targets: ["C", "L", "K"],
    expect: readers,
    call: (fx, t) => get(`/api/v1/chat/chats/${id(fx, t)}/history`),
  },
  "GET /api/v1/chat/chats/queue": {
    targets: ["C"],
    expect: () => anyToken,
    call: () => get("/api/v1/chat/chats/queue"),
    // Only operators and admins see the waiting list.
    check: (who, body) =>
      assert.equal(
        "waiting" in (body as object),
        ["owner", "otherOperator", "admin"].includes(who),
        `waiting list for ${who}`,
      ),
  },
  "GET /api/v1/chat/chats/operators": {
    targets: ["C"],
    expect: () => staffOnly,
    call: () => get("/api/v1/chat/chats/operators"),
  },
  "GET /api/v1/chat/chats/stats": {
    targets: ["C"],
    expect: () => anyToken,
    call: () => get("/api/v1/chat/chats/stats"),
  },
  "GET /api/v1/chat/me/chats": {
    targets: ["C"],
    expect: () => visitorsOnly,
    visitorTokens: true,
    call: () => get("/api/v1/chat/me/chats"),
    // A visitor lists their own chats, never alice's unless they are alice.
    check: (who, body, fx) => {
      const ids = (body as { chat_id: string }[]).map((c) => c.chat_id);
      assert.equal(ids.includes(fx.c.chat_id), who === "visitor", `alice's chat for ${who}`);
    },
  },
  "GET /api/v1/chat/me": {
    targets: ["C"],
    expect: () => visitorsOnly,
    visitorTokens: true,
    call: () => get("/api/v1/chat/me"),
    check: (who, body) =>
      assert.equal((body as { client_id: string }).client_id === "alice", who === "visitor"),
  },
  "PATCH /api/v1/chat/me": {
    targets: ["C"],
    expect: () => visitorsOnly,
    visitorTokens: true,
    call: () => ({ method: "PATCH", path: "/api/v1/chat/me", body: { name: "Renamed" } }),
  },
  "POST /api/v1/chat/me/token": {
    targets: ["C"],
    expect: () => visitorsOnly,
    visitorTokens: true,
    call: () => post("/api/v1/chat/me/token"),
  },
  "GET /api/v1/chat/chats/{chat_id}/client": {
    targets: ["C", "L", "K"],
    expect: staffReaders,
    call: (fx, t) => get(`/api/v1/chat/chats/${id(fx, t)}/client`),
  },
  "POST /api/v1/chat/admin/transfer-chat": {
    targets: ["C"],
    expect: () => adminOnly,
    mutates: true,
    call: (fx) =>
      post("/api/v1/chat/admin/transfer-chat", {
        chat_id: fx.c.chat_id,
        to_queue: true,
        reason: "matrix",
      }),
  },
  "POST /api/v1/chat/admin/assign-lawyer": {
    targets: ["C"],
    expect: () => adminOnly,
    mutates: true,
    call: (fx) =>
      post("/api/v1/chat/admin/assign-lawyer", { chat_id: fx.c.chat_id, lawyer_id: "law-2" }),
  },
  "POST /api/v1/chat/admin/update-operator-status": {
    targets: ["C"],
    expect: () => adminOnly,
    call: () =>
      post("/api/v1/chat/admin/update-operator-status", { operator_id: "op-3", status: "away" }),
  },
  "POST /api/v1/chat/admin/close-chat": {
    targets: ["C", "L"],
    expect: () => adminOnly,
    mutates: true,
    call: (fx, t) => post("/api/v1/chat/admin/close-chat", { chat_id: id(fx, t) }),
  },
  "POST /api/v1/chat/admin/update-queue-priority": {
    targets: ["C"],
    expect: () => adminOnly,
    call: (fx) =>
      post("/api/v1/chat/admin/update-queue-priority", { chat_id: fx.other.chat_id, priority: 1 }),
  },
  "POST /api/v1/chat/admin/erase-client": {
    targets: ["C"],
    expect: () => adminOnly,
    // A client nobody uses: erasing the fixture's would empty it for the next cells.
    call: () =>
      post("/api/v1/chat/admin/erase-client", { client_id: "matrix-nobody", reason: "matrix" }),
  },
  "GET /api/v1/chat/chats/{chat_id}/notes": {
    targets: ["C", "L", "K"],
    expect: staffOfChat,
    call: (fx, t) => get(`/api/v1/chat/chats/${id(fx, t)}/notes`),
  },
  "GET /api/v1/chat/chats/{chat_id}/transcript": {
    targets: ["C", "L", "K"],
    expect: readers,
    call: (fx, t) => get(`/api/v1/chat/chats/${id(fx, t)}/transcript`),
  },
  "GET /api/v1/chat/availability": {
    targets: ["C"],
    expect: () => publicRoute,
    call: () => get("/api/v1/chat/availability"),
  },
  "GET /api/v1/chat/search": {
    targets: ["C"],
    expect: () => staffOnly,
    call: async (fx, _t, w) => {
      await searchOf(w.server.svc)!.indexer.flushed();
      return get(`/api/v1/chat/search?q=${fx.word}`);
    },
    // Lawyers find their lawyer chats and the support chat theirs was assigned from (C);
    // operators waiting, their own and closed chats.
    check: (who, body, fx) => {
      const ids = (body as { results: { chat_id: string }[] }).results.map((r) => r.chat_id);
      assert.equal(
        ids.includes(fx.c.chat_id),
        ["owner", "lawyer", "admin"].includes(who),
        `C for ${who}`,
      );
      assert.equal(
        ids.includes(fx.l.chat_id),
        ["lawyer", "admin"].includes(who),
        `L for ${who}`,
      );
      assert.equal(
        ids.includes(fx.k.chat_id),
        ["owner", "otherOperator", "admin"].includes(who),
        `K for ${who}`,
      );
    },
  },
  "GET /api/v1/chat/admin/stats/range": adminGet(
    "/api/v1/chat/admin/stats/range?from=2026-01-01&to=2026-01-31",
  ),
  "GET /api/v1/chat/admin/queue": adminGet("/api/v1/chat/admin/queue"),
  "GET /api/v1/chat/admin/operators": adminGet("/api/v1/chat/admin/operators"),
  "GET /api/v1/chat/admin/stats": adminGet("/api/v1/chat/admin/stats"),
  "GET /api/v1/chat/admin/cluster": adminGet("/api/v1/chat/admin/cluster"),
  "GET /api/v1/chat/admin/audit": adminGet("/api/v1/chat/admin/audit"),
  "GET /api/v1/chat/sse": {
    targets: ["C"],
    expect: () => anyToken,
    call: () => ({ ...get("/api/v1/chat/sse"), stream: true }),
  },
  "POST /api/v1/chat/sse/send": {
    targets: ["C"],
    // Sends on alice's stream: only alice may; to anyone else the stream does not exist (409
    // `invalid_state`, as for a made-up connection id), which counts as refused here.
    expect: () => only("visitor"),
    refusedAs: 409,
    call: async (fx, _t, w) => {
      const id = await openStream(w, fx.c.client_token);
      return {
        method: "POST",
        path: `/api/v1/chat/sse/send?connection_id=${id}`,
        raw: JSON.stringify({ type: "ping", payload: {} }),
      };
    },
  },
  "POST /api/v1/chat/chats/{chat_id}/attachments": {
    // On the closed K every reader is told 409 `chat_closed` (a refusal for the state).
    targets: ["C", "L", "K"],
    expect: (t) => t === "K" ? readers(t) : participants(t),
    call: (fx, t) => ({
      method: "POST",
      path: `/api/v1/chat/chats/${id(fx, t)}/attachments?name=note.txt`,
      raw: "hello",
      contentType: "text/plain",
    }),
  },
  "GET /api/v1/chat/chats/{chat_id}/attachments/{id}": {
    targets: ["C", "L", "K"],
    expect: (t) => t === "C" ? participants(t) : readers(t),
    call: async (fx, t, w) => {
      const fileId = t === "K" ? fx.kFile : await upload(w, chatOf(fx, t));
      return get(`/api/v1/chat/chats/${id(fx, t)}/attachments/${fileId}?format=json`);
    },
  },
  "GET /api/v1/chat/files/{id}": {
    targets: ["C"],
    // The signature is the credential: with a wrong one, nobody gets the bytes, token or not.
    expect: () => () => "deny",
    call: async (fx, _t, w) =>
      get(`/api/v1/chat/files/${await upload(w, fx.c)}?exp=${2 ** 40}&sig=${"A".repeat(43)}`),
  },
  "GET /api/v1/chat/chats/{chat_id}/hints": {
    targets: ["C", "L", "K"],
    expect: (t) => t === "K" ? staffReaders(t) : staffOfChat(t),
    call: (fx, t) => get(`/api/v1/chat/chats/${id(fx, t)}/hints?q=refund`),
  },
  "POST /api/v1/chat/admin/canned-responses": {
    targets: ["C"],
    expect: () => adminOnly,
    call: () =>
      post("/api/v1/chat/admin/canned-responses", { title: "Hi", text: "Hello there", tags: [] }),
  },
  "GET /api/v1/chat/admin/canned-responses": adminGet("/api/v1/chat/admin/canned-responses"),
  "GET /api/v1/chat/admin/canned-responses/{id}": adminGet(
    "/api/v1/chat/admin/canned-responses/none",
  ),
  "PUT /api/v1/chat/admin/canned-responses/{id}": {
    targets: ["C"],
    expect: () => adminOnly,
    call: () => ({
      method: "PUT",
      path: "/api/v1/chat/admin/canned-responses/none",
      body: { title: "Hi", text: "Hello there", tags: [] },
    }),
  },
  "DELETE /api/v1/chat/admin/canned-responses/{id}": adminCall(
    "DELETE",
    "/api/v1/chat/admin/canned-responses/none",
  ),
  "GET /api/v1/chat/admin/webhooks/dead-letters": adminGet(
    "/api/v1/chat/admin/webhooks/dead-letters",
  ),
  "POST /api/v1/chat/admin/webhooks/dead-letters/{id}/replay": adminCall(
    "POST",
    "/api/v1/chat/admin/webhooks/dead-letters/none/replay",
  ),
  "DELETE /api/v1/chat/admin/webhooks/dead-letters/{id}": adminCall(
    "DELETE",
    "/api/v1/chat/admin/webhooks/dead-letters/none",
  ),
  "POST /api/v1/chat/admin/webhooks": {
    targets: ["C"],
    expect: () => adminOnly,
    call: () =>
      post("/api/v1/chat/admin/webhooks", {
        url: "https://hooks.example.com/chat",
        events: ["chat.closed"],
      }),
  },
  "GET /api/v1/chat/admin/webhooks": adminGet("/api/v1/chat/admin/webhooks"),
  "GET /api/v1/chat/admin/webhooks/{id}": adminGet("/api/v1/chat/admin/webhooks/none"),
  "PATCH /api/v1/chat/admin/webhooks/{id}": {
    targets: ["C"],
    expect: () => adminOnly,
    call: () => ({
      method: "PATCH",
      path: "/api/v1/chat/admin/webhooks/none",
      body: { enabled: false },
    }),
  },
  "DELETE /api/v1/chat/admin/webhooks/{id}": adminCall(
    "DELETE",
    "/api/v1/chat/admin/webhooks/none",
  ),
  "GET /api/v1/chat/titles": {
    targets: ["C"],
    expect: () => staffOnly,
    call: () => get("/api/v1/chat/titles"),
    // Lawyers see only their chats, operators the waiting ones and their own, admins all.
    check: (who, body, fx) => {
      const ids = (body as { chats: { chat_id: string }[] }).chats.map((c) => c.chat_id);
      assert.equal(ids.includes(fx.c.chat_id), ["owner", "admin"].includes(who), `C for ${who}`);
      assert.equal(
        ids.includes(fx.other.chat_id),
        ["owner", "otherOperator", "admin"].includes(who),
        `a waiting chat for ${who}`,
      );
    },
  },
  "GET /api/v1/chat/bot/stats": {
    targets: ["C"],
    expect: () => staffOnly,
    call: () => get("/api/v1/chat/bot/stats"),
  },
  "GET /healthz": { targets: ["C"], expect: () => publicRoute, call: () => get("/healthz") },
  "GET /readyz": { targets: ["C"], expect: () => publicRoute, call: () => get("/readyz") },
  "GET /metrics": { targets: ["C"], expect: () => publicRoute, call: () => get("/metrics") },
  "GET /api/v1/chat/ws/chat": {
    targets: ["C"],
    // The upgrade itself is a frame-matrix matter; a plain GET is refused as a bad request.
    expect: () => publicRoute,
    call: () => get("/api/v1/chat/ws/chat"),
  },
};

function adminGet(path: string): RestRow {
  return { targets: ["C"], expect: () => adminOnly, call: () => get(path) };
}

function adminCall(method: string, path: string): RestRow {
  return { targets: ["C"], expect: () => adminOnly, call: () => ({ method, path }) };
}

async function upload(w: World, chat: { chat_id: string; client_token: string }) {
  const res = await fetch(
    `${w.server.url}/api/v1/chat/chats/${chat.chat_id}/attachments?name=a.txt`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${chat.client_token}`, "content-type": "text/plain" },
      body: "hello",
    },
  );
  assert.equal(res.status, 201);
  return (await res.json()).id as string;
}

/** Opens an SSE stream of `token`, returns its connection id (the stream stays open). */
async function openStream(w: World, token: string): Promise<string> {
  const res = await fetch(`${w.server.url}/api/v1/chat/sse?token=${encodeURIComponent(token)}`);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/"connection_id":"([^"]+)"/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended: ${text}`);
    text += value;
  }
  w.streams.push(reader);
  return /"connection_id":"([^"]+)"/.exec(text)![1];
}

async function restOutcome(w: World, call: RestCall, token: string | undefined) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let body: BodyInit | undefined = call.raw;
  if (call.body !== undefined) {
    body = JSON.stringify(call.body);
    headers["content-type"] = "application/json";
  }
  if (call.contentType) headers["content-type"] = call.contentType;
  const res = await fetch(`${w.server.url}${call.path}`, {
    method: call.method,
    headers,
    body,
    redirect: "manual",
  });
  if (call.stream && res.status === 200) {
    await res.body?.cancel();
    return { status: res.status, body: null };
  }
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch { /* not JSON (metrics, an event stream) */ }
  return { status: res.status, body: parsed };
}

function classify(status: number, context: string): Outcome {
  assert.ok(status < 500 || status === 501, `${context}: ${status}`);
  return status === 401 ? "unauth" : status === 403 ? "deny" : "ok";
}

// ---------------------------------------------------------------------------------------------
// Frame rows

interface FrameRow {
  targets: Target[];
  expect: (t: Target) => (who: Caller) => Outcome;
  mutates?: boolean;
  payload: (fx: Fixture, t: Target, self: string | undefined) => Record<string, unknown>;
}

const FRAMES: Record<InboundType, FrameRow> = {
  message: {
    targets: ["C", "L", "K"],
    expect: participants,
    payload: (fx, t) => ({ chat_id: id(fx, t), text: "matrix" }),
  },
  accept_chat: {
    targets: ["C"],
    // On bob's waiting chat: operators and admins may take it.
    expect: () => only("owner", "otherOperator", "admin"),
    mutates: true,
    payload: (fx) => ({ chat_id: fx.other.chat_id }),
  },
  transfer_chat: {
    targets: ["C"],
    expect: () => only("owner", "admin"),
    mutates: true,
    payload: (fx) => ({ chat_id: fx.c.chat_id, to_queue: true, reason: "matrix" }),
  },
  assign_lawyer: {
    targets: ["C"],
    expect: () => only("owner", "admin"),
    mutates: true,
    payload: (fx) => ({ chat_id: fx.c.chat_id, lawyer_id: "law-2" }),
  },
  typing: {
    targets: ["C", "L", "K"],
    expect: participants,
    payload: (fx, t) => ({ chat_id: id(fx, t), is_typing: true }),
  },
  read: {
    targets: ["C", "L", "K"],
    expect: participants,
    payload: (fx, t) => ({ chat_id: id(fx, t), seq: 1 }),
  },
  resume: {
    targets: ["C", "L", "K"],
    expect: (t) => t === "C" ? participants(t) : readers(t),
    payload: (fx, t) => ({ chat_id: id(fx, t), last_seq: 0 }),
  },
  close_chat: {
    targets: ["C", "L"],
    expect: participants,
    mutates: true,
    payload: (fx, t) => ({ chat_id: id(fx, t) }),
  },
  rate: {
    // The client of the chat (or an admin); C and L are open (`not_closed`), K is rated.
    targets: ["C", "L", "K"],
    expect: () => only("visitor", "admin"),
    payload: (fx, t) => ({ chat_id: id(fx, t), score: 5 }),
  },
  set_status: {
    targets: ["C"],
    expect: () => staffOnly,
    payload: () => ({ status: "online" }),
  },
  ping: { targets: ["C"], expect: () => anyToken, payload: () => ({}) },
  pong: { targets: ["C"], expect: () => anyToken, payload: () => ({ id: "h1" }) },
  note: {
    targets: ["C", "L", "K"],
    expect: staffOfChat,
    payload: (fx, t) => ({ chat_id: id(fx, t), text: "matrix note" }),
  },
  set_labels: {
    targets: ["C", "L", "K"],
    expect: staffOfChat,
    payload: (fx, t) => ({ chat_id: id(fx, t), labels: ["matrix"] }),
  },
  refresh_token: {
    targets: ["C"],
    expect: () => anyToken,
    payload: (_fx, _t, self) => ({ token: self }),
  },
};

/** Sends one frame as `who` and classifies the answer. */
async function frameOutcome(
  w: World,
  fx: Fixture,
  who: Caller,
  t: Target,
  type: InboundType,
  row: FrameRow,
): Promise<Outcome> {
  const token = tokenOf(w, fx, who, t);
  if (token === undefined) {
    const url = new URL(w.server.wsUrl("x"));
    url.searchParams.delete("token");
    const ws = await w.sockets.open(url.toString());
    const closed = await ws.closed();
    assert.equal(closed.code, 1008);
    return closed.reason === "unauthorized" ? "unauth" : "deny";
  }
  let ws = STAFF[who] ? w.staffSockets.get(who)! : null;
  let own = false;
  if (!ws) {
    ws = await WsClient.connect(w.server.wsUrl(token));
    own = true;
  }
  try {
    const payload = row.payload(fx, t, token);
    if (type === "pong") {
      // An answer to a heartbeat gets no reply: the connection must still answer a ping.
      ws.send("pong", payload);
      assert.equal((await ws.request("ping")).type, "pong");
      return "ok";
    }
    const reply = await ws.request(type, payload);
    if (reply.type !== "error") return "ok";
    const code = reply.payload.code as string;
    assert.notEqual(code, "internal", `${type} as ${who}: ${JSON.stringify(reply)}`);
    return code === "unauthorized" ? "unauth" : code === "forbidden" ? "deny" : "ok";
  } finally {
    if (own) await ws.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The test

Deno.test("authorization matrix: every REST operation and frame type, for every kind of caller", async () => {
  const files = await Deno.makeTempDir({ prefix: "chat-matrix-" });
  await using server = await startTestServer({
    ATTACHMENTS_DIR: files,
    TITLE_MODE: "extractive",
    BOT_MODE: "waiting",
    // Each cell opens its own client socket; the budgets here are not what is tested.
    RATE_LIMIT_PER_MIN: "100000",
    MAX_CONNECTIONS_PER_TOKEN: "50",
    DEFAULT_CAPACITY: "100000",
  });
  await using sockets = new Sockets();
  const w: World = { server, sockets, staff: new Map(), staffSockets: new Map(), streams: [] };
  try {
    for (const who of CALLERS) {
      const s = STAFF[who];
      if (!s) continue;
      const token = await server.staffToken(s[0], s[1]);
      w.staff.set(who, token);
      const ws = await sockets.connect(server.wsUrl(token));
      assert.equal((await ws.request("ping")).type, "pong");
      w.staffSockets.set(who, ws);
    }

    // Every route the server documents has a row, and every row is a documented route.
    const doc = await (await fetch(`${server.url}/api/v1/chat/openapi.json`)).json();
    const documented = Object.entries(doc.paths as Record<string, object>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)
    ).sort();
    assert.deepEqual(Object.keys(REST).sort(), documented, "a row per documented REST operation");
    assert.deepEqual(Object.keys(FRAMES).sort(), [...INBOUND_TYPES].sort(), "a row per frame type");

    const shared = await fixture(w);
    const failures: string[] = [];
    let cells = 0;
    for (const [name, row] of Object.entries(REST)) {
      for (const t of row.targets) {
        for (const who of CALLERS) {
          const fx = row.mutates ? await fixture(w) : shared;
          const call = await row.call(fx, t, w);
          const token = tokenOf(w, fx, who, t, row.visitorTokens);
          const { status, body } = await restOutcome(w, call, token);
          const got = status === row.refusedAs
            ? "deny"
            : classify(status, `${name} on ${t} as ${who}`);
          const want = row.expect(t)(who);
          cells++;
          if (got !== want) {
            failures.push(`${name} on ${t} as ${who}: ${got} (${status}), want ${want}`);
          } else if (got === "ok" && row.check) {
            row.check(who, body, fx);
          }
        }
      }
    }
    for (const type of INBOUND_TYPES) {
      const row = FRAMES[type];
      for (const t of row.targets) {
        for (const who of CALLERS) {
          const fx = row.mutates ? await fixture(w) : shared;
          const got = await frameOutcome(w, fx, who, t, type, row);
          const want = row.expect(t)(who);
          cells++;
          if (got !== want) failures.push(`frame ${type} on ${t} as ${who}: ${got}, want ${want}`);
        }
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${cells} cells differ`);
  } finally {
    for (const r of w.streams) await r.cancel().catch(() => {});
    await Deno.remove(files, { recursive: true }).catch(() => {});
  }
});
