/**
 * The logs of a real server: a request that fails is answered with its `x-request-id` and
 * logged with that id and the error's stack; a caller's sane request id is kept, a hostile one
 * replaced; a frame that fails on a WebSocket is logged with the connection's id and user.
 */
import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import { startTestServer, WsClient } from "../integration/_harness.ts";
import { SseClient, sseUrl } from "../integration/_sse_client.ts";
import { io } from "socket.io-client";

function capturing() {
  // deno-lint-ignore no-explicit-any -- parsed JSON lines, read field by field
  const lines: Array<Record<string, any>> = [];
  const logger = createLogger("debug", { write: (line) => lines.push(JSON.parse(line)) });
  return { lines, logger };
}

Deno.test("logs: a request that fails is logged with its request id (echoed in the header) and the error's stack", async () => {
  const { lines, logger } = capturing();
  await using server = await startTestServer({}, { logger });
  const chat = await server.createChat("log-500");
  // A test-only fault: the history read breaks as a broken store would.
  server.svc.history = () => Promise.reject(new Error("history store broken"));
  const res = await fetch(`${server.url}/api/v1/chat/chats/${chat.chat_id}/history`, {
    headers: { authorization: `Bearer ${chat.client_token}`, "x-request-id": "req-500.a_b" },
  });
  assert.equal(res.status, 500);
  assert.equal(res.headers.get("x-request-id"), "req-500.a_b");
  assert.equal((await res.json()).error.code, "internal");
  const line = lines.find((l) => l.msg === "request failed");
  assert.ok(line, "the failure is logged");
  assert.equal(line.level, "error");
  assert.equal(line.request_id, "req-500.a_b");
  assert.equal(line.err.message, "history store broken");
  assert.match(line.err.stack, /history store broken\n\s+at /);
  assert.equal(line.error, undefined, "one field name for errors: err");
});

Deno.test("logs: a missing or hostile x-request-id is replaced by a fresh one", async () => {
  await using server = await startTestServer();
  const ids: string[] = [];
  for (const given of [undefined, "x".repeat(65), "a b", 'a"b', "ok-id_1.2"]) {
    const res = await fetch(`${server.url}/healthz`, {
      headers: given === undefined ? {} : { "x-request-id": given },
    });
    await res.body?.cancel();
    ids.push(res.headers.get("x-request-id") ?? "");
  }
  assert.equal(ids[4], "ok-id_1.2");
  for (const id of ids.slice(0, 4)) assert.match(id, /^[0-9a-f-]{36}$/);
  assert.equal(new Set(ids).size, 5);
});

Deno.test("logs: a frame that fails on a WebSocket is logged with the connection's id and user", async () => {
  const { lines, logger } = capturing();
  await using server = await startTestServer({}, { logger });
  const chat = await server.createChat("log-ws");
  const client = await WsClient.connect(chat.ws_url);
  const connected = client.ofType("connected")[0] ??
    await client.next((f) => f.type === "connected");
  server.svc.sendMessage = () => Promise.reject(new Error("journal broken"));
  const reply = await client.request("message", { text: "hi" });
  assert.equal(reply.type, "error");
  assert.equal(reply.payload.code, "internal");
  const line = lines.find((l) => l.msg === "frame failed");
  assert.ok(line, "the failure is logged");
  assert.equal(line.connection_id, connected.payload.connection_id, "the id `connected` told");
  assert.equal(line.transport, "ws");
  assert.equal(line.user_kind, "client");
  assert.equal(line.type, "message");
  assert.match(line.err.stack, /journal broken\n\s+at /);
  assert.equal(line.request_id, undefined, "a frame is not the upgrade request");
  await client.close();
});

Deno.test("logs: a frame that fails over SSE is logged with the stream's connection id and the POST's request id", async () => {
  const { lines, logger } = capturing();
  await using server = await startTestServer({}, { logger });
  const chat = await server.createChat("log-sse");
  const sse = await SseClient.connect(sseUrl(server, chat.client_token));
  server.svc.sendMessage = () => Promise.reject(new Error("journal broken over sse"));
  const reply = await sse.request("message", { text: "hi" });
  assert.equal(reply.type, "error");
  const line = lines.find((l) => l.msg === "frame failed");
  assert.ok(line, "the failure is logged");
  assert.equal(line.connection_id, sse.connectionId);
  assert.equal(line.transport, "sse");
  assert.equal(line.user_kind, "client");
  assert.match(line.request_id, /^[0-9a-f-]{36}$/, "the send is a request of its own");
  assert.match(line.err.stack, /journal broken over sse/);
  await sse.close();
});

Deno.test("logs: a frame that fails over socket.io is logged with the connection's id", async () => {
  const { lines, logger } = capturing();
  await using server = await startTestServer({}, { logger });
  const chat = await server.createChat("log-sio");
  const socket = io(server.url, {
    forceNew: true,
    reconnection: false,
    transports: ["websocket"],
    auth: { token: chat.client_token },
  });
  try {
    const connected = await new Promise<{ connection_id: string }>((resolve) =>
      socket.on("connected", resolve)
    );
    server.svc.sendMessage = () => Promise.reject(new Error("journal broken over socket.io"));
    const reply = await socket.timeout(10_000).emitWithAck("message", { text: "hi" });
    assert.equal(reply.type, "error");
    const line = lines.find((l) => l.msg === "frame failed");
    assert.ok(line, "the failure is logged");
    assert.equal(line.connection_id, connected.connection_id);
    assert.equal(line.transport, "socketio");
    assert.equal(line.user_kind, "client");
    assert.match(line.err.stack, /journal broken over socket.io/);
  } finally {
    socket.close();
  }
});
