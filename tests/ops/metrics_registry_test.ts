/**
 * `/metrics` on prom-client: each server in a process has its own registry (its own engine
 * figures, and the process metrics on each), label values survive escaping, the HTTP route label
 * is the route's pattern (one series however many ids), METRICS_TOKEN guards the route, and the
 * frame, ack and error metrics count what the transports saw.
 */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { startTestServer, WsClient } from "../integration/_harness.ts";

interface Family {
  name: string;
  type: string;
  metrics: Array<{ value?: string; labels?: Record<string, string>; count?: string }>;
}

async function scrape(url: string, init: RequestInit = {}): Promise<Map<string, Family>> {
  const res = await fetch(`${url}/metrics`, init);
  assert.equal(res.status, 200);
  const families = parsePrometheusTextFormat(await res.text()) as Family[];
  return new Map(families.map((f) => [f.name, f]));
}

/** The value of the sample of `name` whose labels include `labels`. */
function value(m: Map<string, Family>, name: string, labels: Record<string, string> = {}) {
  const f = m.get(name);
  assert.ok(f, `${name} is exposed`);
  const sample = f.metrics.find((s) =>
    Object.entries(labels).every(([k, v]) => s.labels?.[k] === v)
  );
  assert.ok(sample, `${name}${JSON.stringify(labels)} has a sample`);
  return Number(sample.value ?? sample.count);
}

Deno.test("metrics: two servers in one process each expose the process metrics and their own engine counters", async () => {
  await using a = await startTestServer();
  await using b = await startTestServer();
  const chat = await a.createChat("reg-a");
  const client = await WsClient.connect(chat.ws_url);
  for (let i = 0; i < 2; i++) {
    assert.equal((await client.request("message", { text: `m${i}` })).type, "ack");
  }
  const [ma, mb] = [await scrape(a.url), await scrape(b.url)];
  for (const m of [ma, mb]) {
    for (
      const name of [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "nodejs_eventloop_lag_p99_seconds",
        "nodejs_heap_size_used_bytes",
      ]
    ) assert.ok(m.has(name), name);
  }
  assert.equal(value(ma, "chat_messages_total"), 2);
  assert.equal(value(mb, "chat_messages_total"), 0);
  assert.equal(value(ma, "chat_frames_total", { type: "message" }), 2);
  assert.equal(mb.get("chat_frames_total")?.metrics.length, 0);
  assert.equal(value(ma, "chat_ack_latency_seconds"), 2, "two acks timed");
  assert.equal(value(mb, "chat_ack_latency_seconds"), 0);
  assert.equal(value(ma, "chat_connections", { transport: "ws", role: "client" }), 1);
  assert.equal(value(mb, "chat_connections", { transport: "ws", role: "client" }), 0);
  assert.equal(value(ma, "chat_queue_waiting", { queue: "default" }), 1);
  assert.ok(value(ma, "chat_queue_oldest_wait_seconds", { queue: "default" }) >= 0);
  await client.close();
});

Deno.test("metrics: a frame refused is counted by its error code; an accepted chat's wait is observed", async () => {
  await using server = await startTestServer();
  const op = await WsClient.connect(server.wsUrl(await server.staffToken("op-reg")));
  const chat = await server.createChat("reg-err");
  const bad = await op.request("accept_chat", { chat_id: "no-such-chat" });
  assert.equal(bad.type, "error");
  assert.equal((await op.request("accept_chat", { chat_id: chat.chat_id })).type, "ack");
  const m = await scrape(server.url);
  assert.equal(value(m, "chat_frame_errors_total", { code: String(bad.payload.code) }), 1);
  assert.equal(value(m, "chat_frames_total", { type: "accept_chat" }), 2);
  assert.equal(value(m, "chat_queue_wait_seconds"), 1, "one chat taken");
  assert.equal(value(m, "chat_queue_active", { queue: "default" }), 1);
  assert.equal(value(m, "chat_queue_operators_online", { queue: "default" }), 1);
  assert.ok(value(m, "chat_kv_commit_mutations") > 0);
  assert.equal(value(m, "chat_kv_commit_mutations"), value(m, "chat_kv_commit_seconds"));
  await op.close();
});

Deno.test("metrics: 1,000 chat ids in request paths make one HTTP series (the route's pattern)", async () => {
  await using server = await startTestServer();
  for (let i = 0; i < 1000; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, async (_, j) => {
        const res = await fetch(`${server.url}/api/v1/chat/chats/chat-${i + j}/history`);
        await res.body?.cancel();
      }),
    );
  }
  const m = await scrape(server.url);
  const series = m.get("chat_http_requests_total")!.metrics.filter((s) =>
    s.labels?.route?.includes("/chats/")
  );
  assert.deepEqual(series.map((s) => [s.labels, Number(s.value)]), [
    [{ method: "GET", route: "/api/v1/chat/chats/:chat_id/history", status: "401" }, 1000],
  ]);
  // A path no route knows is one series too, whatever the path.
  await (await fetch(`${server.url}/nowhere/${crypto.randomUUID()}`)).body?.cancel();
  const after = await scrape(server.url);
  assert.equal(
    value(after, "chat_http_requests_total", { route: "unmatched", status: "404" }),
    1,
  );
});

Deno.test("metrics: label values keep quotes, backslashes and newlines", async () => {
  await using server = await startTestServer();
  const { EngineMetrics } = await import("../../src/server/metrics.ts");
  const metrics = new EngineMetrics({
    system: server.svc.system,
    svc: server.svc,
    clock: { now: () => Date.now() } as never,
  });
  try {
    const odd = 'a"b\\c\nd}{=,';
    metrics.httpRequests.inc({ method: "GET", route: odd, status: "200" });
    const families = parsePrometheusTextFormat(await metrics.render()) as Family[];
    const f = families.find((x) => x.name === "chat_http_requests_total")!;
    assert.deepEqual(f.metrics.map((s) => s.labels?.route), [odd]);
  } finally {
    metrics.close();
  }
});

Deno.test("metrics: with METRICS_TOKEN set, /metrics wants it as a bearer token", async () => {
  const token = "metrics-token-0123456789";
  await using server = await startTestServer({ METRICS_TOKEN: token });
  const none = await fetch(`${server.url}/metrics`);
  assert.equal(none.status, 401);
  assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
  assert.equal((await none.json()).error.code, "unauthorized");
  const wrong = await fetch(`${server.url}/metrics`, {
    headers: { authorization: `Bearer ${token}x` },
  });
  assert.equal(wrong.status, 401);
  await wrong.body?.cancel();
  const m = await scrape(server.url, { headers: { authorization: `Bearer ${token}` } });
  assert.ok(m.has("chat_messages_total"));
  // Health probes stay open.
  assert.equal((await (await fetch(`${server.url}/healthz`)).json()).status, "ok");
});
