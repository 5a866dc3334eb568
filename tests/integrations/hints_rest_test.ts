/**
 * Hints over a real server: admins keep canned responses over REST (admin only, validated),
 * operators ask for hints for a chat they may see, a closed chat's operator answer becomes a hint
 * for a later similar question, and a restart rebuilds everything from KV.
 */
import assert from "node:assert/strict";
import { hintsOf } from "../../src/integrations/hints/mod.ts";
import { startTestServer, type TestServer, WsClient } from "../integration/_harness.ts";
import { ADDRESS_ANSWER, ADDRESS_QUESTION, CANNED, KNOWLEDGE } from "./_hints_data.ts";

const CANNED_URL = "/api/v1/chat/admin/canned-responses";

interface Reply {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
}

async function call(
  server: TestServer,
  method: string,
  path: string,
  token: string | null,
  body?: unknown,
): Promise<Reply> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const hintsUrl = (chatId: string, q?: string) =>
  `/api/v1/chat/chats/${chatId}/hints${q === undefined ? "" : `?q=${encodeURIComponent(q)}`}`;

/** A server whose knowledge file is the test's own (not the bot's sample), removed on dispose. */
async function hintServer(
  overrides: Record<string, string> = {},
  opts: { kvPath?: string } = {},
): Promise<TestServer> {
  const dir = await Deno.makeTempDir({ prefix: "hints-" });
  await Deno.writeTextFile(`${dir}/knowledge.json`, JSON.stringify(KNOWLEDGE));
  const server = await startTestServer(
    { BOT_KNOWLEDGE_FILE: `${dir}/knowledge.json`, ...overrides },
    opts,
  );
  const dispose = async () => {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  };
  return { ...server, shutdown: dispose, [Symbol.asyncDispose]: dispose };
}

/** A chat the operator accepted, with both sockets open. */
async function acceptedChat(server: TestServer, op: WsClient, clientId: string) {
  const chat = await server.createChat(clientId);
  const client = await WsClient.connect(server.wsUrl(chat.client_token));
  assert.equal((await op.request("accept_chat", { chat_id: chat.chat_id })).type, "ack");
  await client.next((f) => f.type === "chat_assigned");
  return { chat, client };
}

Deno.test("canned REST: admins create, list, read, replace and delete; others are refused", async () => {
  await using server = await hintServer({ MAX_TEXT_LENGTH: "300" });
  const admin = await server.staffToken("admin-1", "admin");
  const op = await server.staffToken("op-1", "operator");
  const created = await call(server, "POST", CANNED_URL, admin, CANNED[0]);
  assert.equal(created.status, 201);
  assert.equal(created.body.title, "Password reset");
  assert.deepEqual(created.body.tags, ["login", "account"]);
  const id = created.body.id;
  const noTags = await call(server, "POST", CANNED_URL, admin, { title: " Hi ", text: "Hello!" });
  assert.deepEqual([noTags.status, noTags.body.title, noTags.body.tags], [201, "Hi", []]);

  const list = await call(server, "GET", CANNED_URL, admin);
  assert.deepEqual(list.body.canned_responses.map((c: { id: string }) => c.id), [
    id,
    noTags.body.id,
  ]);
  assert.equal((await call(server, "GET", `${CANNED_URL}/${id}`, admin)).body.text, CANNED[0].text);
  const put = await call(server, "PUT", `${CANNED_URL}/${id}`, admin, {
    title: "Password",
    text: "Use the reset link.",
  });
  assert.deepEqual([put.status, put.body.text, put.body.created_at], [
    200,
    "Use the reset link.",
    created.body.created_at,
  ]);
  const chat = await server.createChat("carol");
  const hint = async () =>
    (await call(server, "GET", hintsUrl(chat.chat_id, "password"), admin)).body.hints
      .find((h: { id?: string }) => h.id === id);
  assert.equal((await hint())?.text, "Use the reset link.", "the index follows the change");
  assert.equal((await call(server, "DELETE", `${CANNED_URL}/${id}`, admin)).status, 204);
  assert.equal(await hint(), undefined);
  const gone = await call(server, "GET", `${CANNED_URL}/${id}`, admin);
  assert.deepEqual([gone.status, gone.body.error.code], [404, "not_found"]);
  for (
    const [method, path] of [["PUT", `${CANNED_URL}/${id}`], ["DELETE", `${CANNED_URL}/${id}`]]
  ) {
    const r = await call(server, method, path, admin, { title: "x", text: "y" });
    assert.deepEqual([r.status, r.body.error.code], [404, "not_found"]);
  }

  const refused: Array<[string, string, unknown]> = [
    ["POST", CANNED_URL, CANNED[1]],
    ["GET", CANNED_URL, undefined],
    ["GET", `${CANNED_URL}/${noTags.body.id}`, undefined],
    ["PUT", `${CANNED_URL}/${noTags.body.id}`, CANNED[1]],
    ["DELETE", `${CANNED_URL}/${noTags.body.id}`, undefined],
  ];
  for (const [method, path, body] of refused) {
    const asOp = await call(server, method, path, op, body);
    assert.deepEqual([asOp.status, asOp.body.error.code], [403, "forbidden"]);
    const anon = await call(server, method, path, null, body);
    assert.deepEqual([anon.status, anon.body.error.code], [401, "unauthorized"]);
  }
  const asClient = await call(server, "POST", CANNED_URL, chat.client_token, CANNED[1]);
  assert.equal(asClient.status, 403);
  assert.equal((await call(server, "GET", `${CANNED_URL}/${noTags.body.id}`, admin)).status, 200);
});

Deno.test("canned REST: bad bodies get coded 400s; the routes are in the OpenAPI document", async () => {
  await using server = await hintServer({ MAX_TEXT_LENGTH: "300" });
  const admin = await server.staffToken("admin-1", "admin");
  const bad: Array<[unknown, string, RegExp]> = [
    [{ title: "  ", text: "x" }, "invalid_payload", /title/],
    [{ title: "t" }, "invalid_payload", /text/],
    [{ title: "t", text: "x".repeat(301) }, "invalid_payload", /text/],
    [{ title: "t", text: "x", tags: "login" }, "invalid_payload", /tags/],
    [{ title: "t", text: "x", tags: Array(21).fill("a") }, "invalid_payload", /tags/],
    [{ title: "x".repeat(201), text: "x" }, "invalid_payload", /title/],
    ["{ not json", "bad_json", /JSON/],
  ];
  for (const [body, code, where] of bad) {
    const r = await call(server, "POST", CANNED_URL, admin, body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.error.code, code);
    assert.match(r.body.error.message, where);
  }
  assert.deepEqual((await call(server, "GET", CANNED_URL, admin)).body.canned_responses, []);
  const doc = (await call(server, "GET", "/api/v1/chat/openapi.json", null)).body;
  for (const path of ["/api/v1/chat/chats/{chat_id}/hints", `${CANNED_URL}/{id}`]) {
    assert.ok(doc.paths[path], `${path} is documented`);
  }
});

Deno.test("hints: the client asks, the operator gets the canned answer first", async () => {
  await using server = await hintServer();
  const admin = await server.staffToken("admin-1", "admin");
  for (const c of CANNED) {
    assert.equal((await call(server, "POST", CANNED_URL, admin, c)).status, 201);
  }
  const opToken = await server.staffToken("op-1");
  const op = await WsClient.connect(server.wsUrl(opToken));
  const { chat, client } = await acceptedChat(server, op, "alice");
  await client.request("message", { text: "how do I reset my password", client_msg_id: "m1" });

  const r = await call(server, "GET", hintsUrl(chat.chat_id), opToken);
  assert.equal(r.status, 200);
  assert.equal(r.body.query, "how do I reset my password", "the client's question is the query");
  assert.equal(r.body.hints[0].source, "canned");
  assert.equal(r.body.hints[0].title, "Password reset");
  assert.equal(r.body.hints[0].text, CANNED[0].text);
  assert.equal(r.body.hints[1].source, "knowledge");
  assert.ok(r.body.hints.length <= 5);

  const q = await call(
    server,
    "GET",
    `${hintsUrl(chat.chat_id, "opening hours")}&limit=1`,
    opToken,
  );
  assert.deepEqual(q.body.hints.map((h: { title: string }) => h.title), ["opening_hours"]);
  const tooMany = await call(server, "GET", `${hintsUrl(chat.chat_id)}?limit=21`, opToken);
  assert.deepEqual([tooMany.status, tooMany.body.error.code], [400, "invalid_payload"]);
  await client.close();
  await op.close();
});

Deno.test("hints: a closed chat's operator answer helps with a later similar question", async () => {
  await using server = await hintServer();
  const opToken = await server.staffToken("op-1");
  const op = await WsClient.connect(server.wsUrl(opToken));
  const first = await acceptedChat(server, op, "bob");
  await first.client.request("message", { text: ADDRESS_QUESTION, client_msg_id: "q1" });
  await op.request("message", { chat_id: first.chat.chat_id, text: ADDRESS_ANSWER });
  await op.request("close_chat", { chat_id: first.chat.chat_id, reason: "solved" });
  await op.next((f) => f.type === "chat_closed" && f.payload.chat_id === first.chat.chat_id);
  await hintsOf(server.svc)!.harvester.idle(); // the harvest queued by `closed`

  const later = await acceptedChat(server, op, "dave");
  await later.client.request("message", { text: "Can I change the address of my delivery?" });
  const r = await call(server, "GET", hintsUrl(later.chat.chat_id), opToken);
  assert.equal(r.status, 200);
  assert.equal(r.body.hints[0].source, "history");
  assert.equal(r.body.hints[0].text, ADDRESS_ANSWER);
  for (const s of [first.client, later.client, op]) await s.close();
});

Deno.test("hints: only staff who may see the chat; waiting chats are open to all staff", async () => {
  await using server = await hintServer();
  const op1 = await server.staffToken("op-1");
  const op2 = await server.staffToken("op-2");
  const admin = await server.staffToken("admin-1", "admin");
  const ws = await WsClient.connect(server.wsUrl(op1));
  const { chat, client } = await acceptedChat(server, ws, "erin");
  const waiting = await server.createChat("frank");
  const q = (id: string) => hintsUrl(id, "password");

  assert.equal((await call(server, "GET", q(chat.chat_id), op1)).status, 200);
  assert.equal((await call(server, "GET", q(chat.chat_id), admin)).status, 200);
  const other = await call(server, "GET", q(chat.chat_id), op2);
  assert.deepEqual([other.status, other.body.error.code], [403, "forbidden"]);
  assert.equal((await call(server, "GET", q(waiting.chat_id), op2)).status, 200);
  const asClient = await call(server, "GET", q(chat.chat_id), chat.client_token);
  assert.deepEqual([asClient.status, asClient.body.error.code], [403, "forbidden"]);
  const anon = await call(server, "GET", q(chat.chat_id), null);
  assert.deepEqual([anon.status, anon.body.error.code], [401, "unauthorized"]);
  const long = await call(server, "GET", q(chat.chat_id).replace("password", "x".repeat(501)), op1);
  assert.deepEqual([long.status, long.body.error.code], [400, "invalid_payload"]);
  // No client message yet: nothing to search, no hints.
  const empty = await call(server, "GET", hintsUrl(waiting.chat_id), op2);
  assert.deepEqual(empty.body, { chat_id: waiting.chat_id, query: "", hints: [] });
  await client.close();
  await ws.close();
});

Deno.test("hints: a restarted server rebuilds the index from KV", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hints-restart-" });
  try {
    const kvPath = `${dir}/chat.kv`;
    {
      await using server = await hintServer({}, { kvPath });
      const admin = await server.staffToken("admin-1", "admin");
      for (const c of CANNED) await call(server, "POST", CANNED_URL, admin, c);
      const op = await WsClient.connect(server.wsUrl(await server.staffToken("op-1")));
      const { chat, client } = await acceptedChat(server, op, "gina");
      await client.request("message", { text: ADDRESS_QUESTION });
      await op.request("message", { chat_id: chat.chat_id, text: ADDRESS_ANSWER });
      await client.request("close_chat", {});
      await op.next((f) => f.type === "chat_closed");
      await hintsOf(server.svc)!.harvester.idle();
      await client.close();
      await op.close();
    }
    await using again = await hintServer({}, { kvPath });
    const chat = await again.createChat("henry");
    const admin = await again.staffToken("admin-1", "admin");
    const pw = await call(again, "GET", hintsUrl(chat.chat_id, "reset my password"), admin);
    assert.equal(pw.body.hints[0].title, "Password reset");
    const addr = await call(again, "GET", hintsUrl(chat.chat_id, "change delivery address"), admin);
    assert.equal(addr.body.hints[0].text, ADDRESS_ANSWER);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
