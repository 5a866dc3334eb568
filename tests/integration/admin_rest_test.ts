import assert from "node:assert/strict";
import { type Frame, startTestServer, type TestServer } from "./_harness.ts";
import { assignedChat, Sockets } from "./_util.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** A REST call; `body` is sent as JSON unless it is a string (sent as is). */
async function call(
  server: TestServer,
  method: "GET" | "POST",
  path: string,
  opts: { token?: string; body?: unknown; query?: boolean } = {},
): Promise<{ status: number; body: Json }> {
  const u = new URL(`/api/v1/chat/${path}`, server.url);
  const headers: Record<string, string> = {};
  if (opts.token && opts.query) u.searchParams.set("token", opts.token);
  else if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const body = typeof opts.body === "string" || opts.body === undefined
    ? opts.body
    : JSON.stringify(opts.body);
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(u, { method, headers, body });
  return { status: res.status, body: await res.json() };
}

/** GET/POST that must answer 200; resolves with the body. */
function client(server: TestServer, token: string) {
  const ok = (r: { status: number; body: Json }) => {
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  return {
    get: async (path: string) => ok(await call(server, "GET", path, { token })),
    post: async (path: string, body: unknown) =>
      ok(await call(server, "POST", `admin/${path}`, { token, body })),
  };
}

const ADMIN_POSTS = [
  "transfer-chat",
  "assign-lawyer",
  "update-operator-status",
  "close-chat",
  "update-queue-priority",
];
const ADMIN_GETS = ["queue", "operators", "stats", "audit"];

Deno.test("admin REST refuses missing or bad tokens (401) and other roles (403)", async () => {
  await using server = await startTestServer();
  const op = await server.staffToken("op-1");
  const chat = await server.createChat("alice");
  for (const path of [...ADMIN_GETS, ...ADMIN_POSTS].map((p) => `admin/${p}`)) {
    const method = ADMIN_POSTS.some((p) => path.endsWith(p)) ? "POST" : "GET";
    const body = method === "POST" ? {} : undefined;
    for (const token of [undefined, "forged.jwt.token"]) {
      const r = await call(server, method, path, { token, body });
      assert.equal(r.status, 401, path);
      assert.equal(r.body.error.code, "unauthorized");
    }
    for (const token of [op, chat.client_token]) {
      const r = await call(server, method, path, { token, body, query: true });
      assert.equal(r.status, 403, path);
      assert.deepEqual(r.body.error, { ...r.body.error, code: "forbidden", retryable: false });
    }
  }
  assert.equal((await call(server, "GET", "chats/queue")).status, 401);
  assert.equal(
    (await call(server, "GET", "chats/operators", { token: chat.client_token })).status,
    403,
  );
  assert.equal((await call(server, "GET", "me/chats", { token: op })).status, 403);
});

Deno.test("admin REST validates bodies and queries with coded 400 errors", async () => {
  await using server = await startTestServer();
  const token = await server.staffToken("adm", "admin");
  const bad: Array<[string, unknown]> = [
    ["transfer-chat", { chat_id: "c", target_operator_id: "op", to_queue: true, reason: "x" }],
    ["transfer-chat", { chat_id: "c", reason: "x" }],
    ["transfer-chat", { chat_id: "c", to_queue: true }],
    ["assign-lawyer", { lawyer_id: "law" }],
    ["update-operator-status", { operator_id: "op" }],
    ["update-operator-status", { operator_id: "op", status: "sleeping" }],
    ["update-operator-status", { operator_id: "op", capacity: -1 }],
    ["close-chat", { chat_id: "" }],
    ["update-queue-priority", { chat_id: "c", priority: 1.5 }],
    ["update-queue-priority", { chat_id: true, priority: 1 }],
    ["close-chat", ""],
  ];
  for (const [path, body] of bad) {
    const r = await call(server, "POST", `admin/${path}`, { token, body });
    assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}`);
    assert.deepEqual(Object.keys(r.body.error).sort(), ["code", "message", "retryable"]);
    assert.equal(r.body.error.code, "invalid_payload");
    assert.equal(r.body.error.retryable, false);
  }
  const badJson = await call(server, "POST", "admin/close-chat", { token, body: "{chat_id:" });
  assert.equal(badJson.status, 400);
  assert.equal(badJson.body.error.code, "bad_json");
  for (const q of ["limit=5000", "limit=0", "limit=x", "chat_id=a&operator_id=b"]) {
    const r = await call(server, "GET", `admin/audit?${q}`, { token });
    assert.equal(r.status, 400, q);
    assert.equal(r.body.error.code, "invalid_payload");
  }
});

Deno.test("admin queue, priority, operators, status/capacity, stats; legacy numeric ids", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const token = await server.staffToken("adm", "admin");
  const api = client(server, token);
  await sockets.connect(server.wsUrl(await server.staffToken("42")));
  const first = await server.createChat("alice");
  const second = await server.createChat("bob");

  const queue = (await call(server, "GET", "admin/queue", { token, query: true })).body;
  assert.equal(queue.length, 2);
  const ids = (q: Json) => q.waiting.map((w: Json) => w.chat_id);
  assert.deepEqual(ids(queue), [first.chat_id, second.chat_id]);

  const body = { chat_id: second.chat_id, priority: 5 };
  assert.deepEqual(await api.post("update-queue-priority", body), body);
  assert.deepEqual(ids(await api.get("admin/queue")), [second.chat_id, first.chat_id]);
  const unknown = await call(server, "POST", "admin/update-queue-priority", {
    token,
    body: { chat_id: 12345, priority: 1 },
  });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, "not_found");

  const set = await api.post("update-operator-status", {
    operator_id: 42,
    status: "away",
    capacity: 2,
  });
  assert.deepEqual([set.operator_id, set.status, set.capacity, set.connected], [
    "42",
    "away",
    2,
    true,
  ]);
  const reset = await api.post("update-operator-status", { operator_id: "42", capacity: null });
  assert.deepEqual([reset.status, reset.capacity], ["away", 5]);

  const op42 = (await api.get("admin/operators")).find((o: Json) => o.operator_id === "42");
  assert.equal(op42.status, "away");
  assert.equal(op42.stats.chats_handled, 0);
  const stats = await api.get("admin/stats");
  assert.deepEqual([stats.queue_length, stats.active_chats, stats.messages_total], [2, 0, 0]);

  const asClient = client(server, first.client_token);
  const asOp = client(server, await server.staffToken("op-1"));
  const summary = await asClient.get("chats/queue");
  assert.deepEqual(Object.keys(summary).sort(), ["length", "queue", "service_rate_per_min"]);
  assert.deepEqual(ids(await asOp.get("chats/queue")), [second.chat_id, first.chat_id]);
  const row = (await asOp.get("chats/operators")).find((o: Json) => o.operator_id === "42");
  assert.deepEqual(
    {
      operator_id: row.operator_id,
      role: row.role,
      status: row.status,
      open_chats: row.open_chats,
    },
    { operator_id: "42", role: "operator", status: "away", open_chats: 0 },
  );
  const clientStats = await asClient.get("chats/stats");
  assert.equal(clientStats.queue_length, 2);
  assert.equal(clientStats.operators, undefined);
  assert.equal(typeof (await asOp.get("chats/stats")).operators, "object");
});

Deno.test("admin transfers to a named operator and back to the queue, closes, and audits", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const token = await server.staffToken("adm", "admin");
  const api = client(server, token);
  const { chat, client: alice } = await assignedChat(server, sockets, "op-1", "alice");
  const op2 = await sockets.connect(server.wsUrl(await server.staffToken("77")));

  const offline = await call(server, "POST", "admin/transfer-chat", {
    token,
    body: { chat_id: chat.chat_id, target_operator_id: "op-9", reason: "nobody" },
  });
  assert.equal(offline.status, 409);
  assert.equal(offline.body.error.code, "operator_unavailable");

  const to77 = { chat_id: chat.chat_id, target_operator_id: 77, reason: "specialist" };
  assert.deepEqual(await api.post("transfer-chat", to77), {
    chat_id: chat.chat_id,
    target_operator_id: "77",
    to_queue: false,
  });
  const isTransfer = (f: Frame) =>
    f.type === "chat_transferred" && f.payload.to_operator_id === "77";
  await alice.next(isTransfer);
  await op2.next(isTransfer);

  const toQueue = { chat_id: chat.chat_id, to_queue: true, reason: "requeue" };
  assert.equal((await api.post("transfer-chat", toQueue)).to_queue, true);
  await alice.next((f) => f.type === "chat_transferred" && f.payload.to_queue === true);
  const waiting = (await api.get("admin/queue")).waiting;
  assert.deepEqual(waiting.map((w: Json) => [w.chat_id, w.requeued]), [[chat.chat_id, true]]);

  const closed = await api.post("close-chat", { chat_id: chat.chat_id, reason: "spam" });
  assert.equal(closed.status, "closed");
  const bye = await alice.next((f) => f.type === "chat_closed");
  assert.equal(bye.payload.closed_by_role, "admin");

  const audit = await api.get(`admin/audit?chat_id=${chat.chat_id}`);
  const actions = audit.map((a: Json) => a.action);
  for (const a of ["closed", "requeued", "transferred", "assigned"]) {
    assert.ok(actions.includes(a), a);
  }
  const times = audit.map((a: Json) => a.at);
  assert.deepEqual(times, [...times].sort((a, b) => b - a), "newest first");
  assert.equal((await api.get("admin/audit?operator_id=77&limit=1")).length, 1);
});

Deno.test("assign-lawyer opens a lawyer chat the client lists in /me/chats and opens by WebSocket", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const api = client(server, await server.staffToken("adm", "admin"));
  const { chat, client: alice } = await assignedChat(server, sockets, "op-1", "alice");
  const lawyer = await sockets.connect(server.wsUrl(await server.staffToken("900", "lawyer")));

  const r = await api.post("assign-lawyer", { client_id: "alice", lawyer_id: 900 });
  assert.equal(r.client_id, "alice");
  assert.equal(r.chat_id, chat.chat_id);
  const lawyerChatId = r.lawyer_chat_id;
  await alice.next((f) =>
    f.type === "lawyer_assigned" && f.payload.lawyer_chat_id === lawyerChatId
  );
  await lawyer.next((f) => f.type === "chat_assigned" && f.payload.chat_id === lawyerChatId);

  // The visitor token lists the visitor's chats; a chat token opens its one chat only.
  const refused = await fetch(`${server.url}/api/v1/chat/me/chats`, {
    headers: { authorization: `Bearer ${chat.client_token}` },
  });
  assert.equal(refused.status, 403);
  await refused.body?.cancel();
  const chats = await client(server, chat.visitor_token).get("me/chats");
  assert.deepEqual(chats.map((c: Json) => c.kind).sort(), ["lawyer", "support"]);
  const lc = chats.find((c: Json) => c.kind === "lawyer");
  assert.equal(lc.chat_id, lawyerChatId);
  assert.equal(lc.operator_id, "900");
  assert.equal(lc.linked_chat_id, chat.chat_id);

  const ws = await sockets.connect(server.wsUrl(lc.client_token, { chat_id: lawyerChatId }));
  assert.equal(ws.ofType("connected")[0].payload.chat_id, lawyerChatId);
  const ack = await ws.request("message", { text: "hello, lawyer" });
  assert.equal(ack.type, "ack", JSON.stringify(ack));
  await lawyer.next((f) => f.type === "message" && f.payload.message === "hello, lawyer");
});

Deno.test("the OpenAPI document lists every REST path", async () => {
  await using server = await startTestServer();
  const res = await fetch(`${server.url}/api/v1/chat/openapi.json`);
  assert.equal(res.status, 200);
  const doc = await res.json();
  assert.match(doc.openapi, /^3\./);
  const expected = [
    ...ADMIN_POSTS.map((p) => ["post", `/api/v1/chat/admin/${p}`]),
    ...ADMIN_GETS.map((p) => ["get", `/api/v1/chat/admin/${p}`]),
    ...["queue", "operators", "stats"].map((p) => ["get", `/api/v1/chat/chats/${p}`]),
    ["get", "/api/v1/chat/me/chats"],
    ["post", "/api/v1/chat/chats"],
    ["get", "/api/v1/chat/chats/{chat_id}/history"],
    ["get", "/healthz"],
  ];
  for (const [method, path] of expected) assert.ok(doc.paths[path]?.[method], `${method} ${path}`);
  const transfer = doc.paths["/api/v1/chat/admin/transfer-chat"].post;
  assert.ok(transfer.requestBody.content["application/json"].schema);
  assert.ok(doc.components.securitySchemes.bearerAuth);
});

Deno.test("GET admin/queue is paged: offset and limit for waiting and taken chats, with totals", async () => {
  await using server = await startTestServer({ DEFAULT_CAPACITY: "10" });
  await using sockets = new Sockets();
  const api = client(server, await server.staffToken("adm", "admin"));
  const op = await sockets.connect(server.wsUrl(await server.staffToken("op-1")));
  const chats = [];
  for (let i = 0; i < 8; i++) chats.push((await server.createChat(`client-${i}`)).chat_id);
  for (const id of chats.slice(0, 3)) {
    assert.equal((await op.request("accept_chat", { chat_id: id })).type, "ack");
  }
  const page = await api.get("admin/queue?offset=2&limit=2&active_offset=1&active_limit=5");
  assert.equal(page.length, 5);
  assert.deepEqual([page.offset, page.limit], [2, 2]);
  assert.deepEqual(page.waiting.map((w: Json) => [w.position, w.chat_id]), [
    [3, chats[5]],
    [4, chats[6]],
  ]);
  assert.equal(page.active_total, 3);
  assert.deepEqual(page.active.map((a: Json) => a.chat_id), chats.slice(1, 3), "in order taken");
  // Defaults: the first 100 of each; past the end an empty page, never an error.
  const all = await api.get("admin/queue");
  assert.deepEqual([all.offset, all.limit, all.waiting.length, all.active.length], [0, 100, 5, 3]);
  assert.deepEqual((await api.get("admin/queue?offset=50")).waiting, []);
  const tooBig = await call(server, "GET", "admin/queue?limit=5000", {
    token: await server.staffToken("adm", "admin"),
  });
  assert.equal(tooBig.status, 400);
});
