import assert from "node:assert/strict";
import { ManualClock } from "../../src/runtime/clock.ts";
import { startTestServer, WsClient } from "./_harness.ts";
import { floodUntilClientsDropped } from "./_util.ts";

Deno.test("the server pings every HEARTBEAT_S and answered pings feed the latency metric", async () => {
  const clock = new ManualClock();
  await using server = await startTestServer({ HEARTBEAT_S: "30" }, { clock });
  const chat = await server.createChat("beat");
  const client = await WsClient.connect(chat.ws_url);
  await clock.advance(29_999);
  assert.equal(client.ofType("ping").length, 0);
  await clock.advance(1);
  const ping = await client.next((f) => f.type === "ping");
  client.send("pong", { id: ping.payload.id as string });
  // A pong gets no reply; a following ping's pong shows the first one was taken.
  const pong = await client.request("ping");
  assert.equal(pong.type, "pong");
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const count = metrics.split("\n").find((l) =>
    l.startsWith("chat_ws_ping_latency_seconds_count ")
  );
  assert.equal(count, "chat_ws_ping_latency_seconds_count 1");
  await clock.advance(30_000);
  await client.next((f) => f.type === "ping" && f.payload.id !== ping.payload.id);
  await client.close();
});

Deno.test("a token may hold MAX_CONNECTIONS_PER_TOKEN connections; the next is closed with 4002", async () => {
  await using server = await startTestServer({ MAX_CONNECTIONS_PER_TOKEN: "2" });
  const chat = await server.createChat("tabs");
  const a = await WsClient.connect(chat.ws_url);
  const b = await WsClient.connect(chat.ws_url);
  const c = await WsClient.open(chat.ws_url);
  const refused = await c.next((f) => f.type === "error");
  assert.equal(refused.payload.code, "too_many_connections");
  assert.equal(refused.payload.retryable, true);
  assert.equal((await c.closed()).code, 4002);
  // Other tokens are not affected, and a freed place can be taken again.
  const op = await WsClient.connect(server.wsUrl(await server.staffToken("op-1")));
  await a.close();
  const d = await WsClient.connect(chat.ws_url);
  assert.equal((await d.request("message", { text: "still fine" })).type, "ack");
  for (const s of [b, d, op]) await s.close();
});

/** A WebSocket peer over raw TCP that completes the handshake and then never reads. */
async function stalledPeer(url: string): Promise<Deno.TcpConn> {
  const u = new URL(url);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  const req = `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
    `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  await conn.write(new TextEncoder().encode(req));
  const buf = new Uint8Array(1024);
  const n = await conn.read(buf); // the 101 answer (and perhaps `connected`); then stop reading
  assert.match(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 101/);
  return conn;
}

Deno.test("a client that stops reading is disconnected (4001) instead of growing server memory", async () => {
  await using server = await startTestServer({
    SEND_QUEUE_MAX_BYTES: "1048576",
    RATE_LIMIT_PER_MIN: "1000000",
    MAX_TEXT_LENGTH: "8000",
  });
  const chat = await server.createChat("slow");
  const op = await WsClient.connect(server.wsUrl(await server.staffToken("op-slow")));
  assert.equal((await op.request("accept_chat", { chat_id: chat.chat_id })).type, "ack");
  const stalled = await stalledPeer(chat.ws_url);
  const text = "x".repeat(8000);
  // The stalled peer is fed far faster than any reader would need, until the server gives up.
  const dropped = await floodUntilClientsDropped(server, op, chat.chat_id, text);
  assert.ok(dropped, "the stalled client was disconnected");
  // Everything acknowledged is stored: a fresh connection can resume all of it.
  const again = await WsClient.connect(chat.ws_url + "&last_seq=0");
  await again.next((f) => f.type === "resumed");
  assert.ok(again.seqs(chat.chat_id).length > 50);
  stalled.close();
  await again.close();
  await op.close();
});
