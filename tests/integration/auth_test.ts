import assert from "node:assert/strict";
import { operatorEntity, type OperatorState } from "../../actors/operator.ts";
import { signJwt } from "../../src/auth/jwt.ts";
import { startTestServer, TEST_SECRET, type TestServer } from "./_harness.ts";
import { assignedChat, fetchHistory, nextCommit, Sockets } from "./_util.ts";

/** Opens a socket that the server refuses: one `error` frame with `code`, then close 1008. */
async function assertRefused(sockets: Sockets, url: string, code: string): Promise<void> {
  const ws = await sockets.open(url);
  const closed = await ws.closed();
  assert.equal(closed.code, 1008);
  assert.equal(closed.reason, code);
  assert.deepEqual(ws.frames.map((f) => [f.type, f.payload.code]), [["error", code]]);
}

const nowS = () => Math.floor(Date.now() / 1000);

function wsUrlWithoutToken(server: TestServer): string {
  const u = new URL(server.wsUrl("x"));
  u.searchParams.delete("token");
  return u.toString();
}

Deno.test("a missing, forged, expired or wrongly signed token gets unauthorized and close 1008", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const chat = await server.createChat("alice");
  const sig = chat.client_token.slice(-4);
  const tampered = chat.client_token.slice(0, -4) + (sig === "AAAA" ? "BBBB" : "AAAA");
  const expired = await signJwt(
    { sub: "op-1", role: "operator", iat: nowS() - 7200, exp: nowS() - 3600 },
    TEST_SECRET,
  );
  const wrongSecret = await signJwt(
    { sub: "op-1", role: "operator", iat: nowS(), exp: nowS() + 3600 },
    "some-other-secret-0123456789abcdefghij",
  );

  await assertRefused(sockets, wsUrlWithoutToken(server), "unauthorized");
  await assertRefused(sockets, server.wsUrl("not-a-token"), "unauthorized");
  await assertRefused(sockets, server.wsUrl(tampered), "unauthorized");
  await assertRefused(sockets, server.wsUrl(expired), "unauthorized");
  await assertRefused(sockets, server.wsUrl(wrongSecret), "unauthorized");

  // The same tokens are refused by REST with a coded 401.
  for (const token of [tampered, expired, wrongSecret]) {
    const res = await fetchHistory(server, chat.chat_id, token);
    assert.equal(res.status, 401);
    assert.equal((res.body.error as Record<string, unknown>).code, "unauthorized");
  }
});

Deno.test("a client token opened with another chat's chat_id gets forbidden and close 1008", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const mine = await server.createChat("alice");
  const theirs = await server.createChat("bob");
  await assertRefused(
    sockets,
    server.wsUrl(mine.client_token, { chat_id: theirs.chat_id }),
    "forbidden",
  );
  // Its own chat_id is fine.
  const ok = await sockets.connect(server.wsUrl(mine.client_token, { chat_id: mine.chat_id }));
  assert.equal(ok.frames[0].payload.chat_id, mine.chat_id);
});

Deno.test("an operator resuming a chat assigned to another operator gets forbidden and close 1008", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat } = await assignedChat(server, sockets, "op-1");
  const intruder = await server.staffToken("op-2");
  await assertRefused(
    sockets,
    server.wsUrl(intruder, { chat_id: chat.chat_id, last_seq: 0 }),
    "forbidden",
  );
});

Deno.test("a staff connection refused with forbidden is not left counted as a live connection", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat } = await assignedChat(server, sockets, "op-1");
  const intruder = await server.staffToken("op-2");

  await assertRefused(
    sockets,
    server.wsUrl(intruder, { chat_id: chat.chat_id, last_seq: 0 }),
    "forbidden",
  );
  // The chat is checked before the connection is counted: nothing to take back.
  const state = await server.svc.system.ask(operatorEntity, "op-2", { type: "get" });
  assert.equal((state as OperatorState).connections, 0);
  // A connection that is let in counts (so the check above can fail).
  const counted = nextCommit(server, "operator", "op-2", "connected");
  await sockets.connect(server.wsUrl(intruder));
  await counted;
  const after = await server.svc.system.ask(operatorEntity, "op-2", { type: "get" });
  assert.equal((after as OperatorState).connections, 1);
});

Deno.test("a client may not accept a chat (forbidden) and keeps its connection", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const chat = await server.createChat("alice");
  const client = await sockets.connect(chat.ws_url);

  const reply = await client.request("accept_chat", { chat_id: chat.chat_id });
  assert.equal(reply.type, "error");
  assert.equal(reply.payload.code, "forbidden");
  assert.equal((await client.request("ping")).type, "pong");
  assert.equal(client.ofType("chat_assigned").length, 0);
});

Deno.test("a lawyer may not accept a support chat (forbidden); the chat stays in the queue", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const lawyer = await sockets.connect(server.wsUrl(await server.staffToken("law-1", "lawyer")));
  const chat = await server.createChat("alice");

  const reply = await lawyer.request("accept_chat", { chat_id: chat.chat_id });
  assert.equal(reply.type, "error");
  assert.equal(reply.payload.code, "forbidden");

  const snap = await server.svc.queueSnapshot();
  assert.deepEqual(snap.waiting.map((w) => w.chatId), [chat.chat_id]);
  const op = await sockets.connect(server.wsUrl(await server.staffToken("op-1")));
  assert.equal((await op.request("accept_chat", { chat_id: chat.chat_id })).type, "ack");
});

Deno.test("REST: create-chat with an invalid body is 400 invalid_payload, with bad JSON 400 bad_json", async () => {
  await using server = await startTestServer();
  const post = async (body: string) => {
    const res = await fetch(`${server.url}/api/v1/chat/chats`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    return { status: res.status, body: await res.json() };
  };

  const invalid = await post(JSON.stringify({ client_id: "has spaces!" }));
  assert.equal(invalid.status, 400);
  assert.equal(invalid.body.error.code, "invalid_payload");
  assert.match(invalid.body.error.message, /client_id/);
  const wrongType = await post(JSON.stringify({ client_id: 42 }));
  assert.equal(wrongType.status, 400);
  assert.equal(wrongType.body.error.code, "invalid_payload");

  const badJson = await post("{client_id:");
  assert.equal(badJson.status, 400);
  assert.deepEqual(Object.keys(badJson.body.error).sort(), ["code", "message", "retryable"]);
  assert.equal(badJson.body.error.code, "bad_json");

  // A client_id alone proves nothing: refused, and no chat of "alice" is made.
  const claimed = await post(JSON.stringify({ client_id: "alice" }));
  assert.equal(claimed.status, 403);
  assert.equal(claimed.body.error.code, "forbidden");
  assert.match(claimed.body.error.message, /user_hash|identity_token/);

  const ok = await post("{}");
  assert.equal(ok.status, 201);
  assert.match(ok.body.client_id, /^v-[0-9a-f-]{36}$/);
});

Deno.test("REST: an unknown route is 404 with a coded JSON body", async () => {
  await using server = await startTestServer();
  for (const path of ["/api/v1/chat/nope", "/nothing/here"]) {
    const res = await fetch(`${server.url}${path}`);
    assert.equal(res.status, 404);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    const body = await res.json();
    assert.equal(body.error.code, "not_found");
    assert.equal(body.error.retryable, false);
  }
});
