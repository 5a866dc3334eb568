/**
 * `/metrics` against what reads it: a real server with real traffic, its exposition parsed by a
 * Prometheus text-format parser, every metric the Grafana dashboard and the alert rules name
 * present in it, and Debian's real `prometheus` scraping the server and answering every
 * dashboard and alert query (templating variables filled in as Grafana would).
 */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { startTestServer, WsClient } from "../integration/_harness.ts";
import { alertExprs, dashboard, promTool, ROOT } from "./_observability.ts";

interface Family {
  name: string;
  metrics: Array<{ value?: string; count?: string; labels?: Record<string, string> }>;
}

/** Every PromQL expression of the dashboard and the rules: `[where, expr]`. */
async function allExprs(): Promise<Array<[string, string]>> {
  const d = await dashboard();
  const panels = d.panels.flatMap((p) =>
    (p.targets ?? []).map((t): [string, string] => [`panel ${p.title} ${t.refId}`, t.expr])
  );
  const rules = (await alertExprs()).map(([n, e]): [string, string] => [`alert ${n}`, e]);
  return [...panels, ...rules];
}

/** Metric families an expression reads (histogram series by their family's name). */
function namesIn(expr: string): string[] {
  const names = expr.match(/\b(chat|process|nodejs)_[a-z0-9_]+/g) ?? [];
  return names.map((n) => n.replace(/_(bucket|sum|count)$/, ""));
}

/** As Grafana sends it: intervals of one minute, every variable matching all. */
function asGrafanaSends(expr: string): string {
  return expr
    .replaceAll("$__rate_interval", "1m")
    .replaceAll("$__interval", "1m")
    .replace(/\$\{?\w+\}?/g, ".*");
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function scrape(url: string): Promise<Map<string, Family>> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  const families = parsePrometheusTextFormat(await res.text()) as Family[];
  return new Map(families.map((f) => [f.name, f]));
}

function value(m: Map<string, Family>, name: string, labels: Record<string, string> = {}) {
  const sample = m.get(name)?.metrics.find((s) =>
    Object.entries(labels).every(([k, v]) => s.labels?.[k] === v)
  );
  assert.ok(sample, `${name}${JSON.stringify(labels)} has a sample`);
  return Number(sample.value ?? sample.count);
}

/** Polls `check` every 200 ms until it returns a value, for at most `ms`. */
async function until<T>(what: string, ms: number, check: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check().catch(() => null);
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

Deno.test("metrics live: traffic shows in /metrics; Prometheus scrapes it and answers every dashboard and alert query", async () => {
  await using server = await startTestServer();
  // Traffic: an operator online, a chat created over REST, a message, an accept, a refused frame.
  const op = await WsClient.connect(server.wsUrl(await server.staffToken("op-live")));
  const chat = await server.createChat("live-client");
  const client = await WsClient.connect(chat.ws_url);
  assert.equal((await client.request("message", { text: "hello" })).type, "ack");
  assert.equal((await op.request("accept_chat", { chat_id: chat.chat_id })).type, "ack");
  const refused = await op.request("accept_chat", { chat_id: "no-such-chat" });
  assert.equal(refused.type, "error");

  const m = await scrape(server.url);
  assert.equal(value(m, "chat_messages_total"), 1);
  assert.equal(value(m, "chat_frames_total", { type: "message" }), 1);
  assert.equal(value(m, "chat_frames_total", { type: "accept_chat" }), 2);
  assert.equal(value(m, "chat_frame_errors_total", { code: String(refused.payload.code) }), 1);
  assert.equal(value(m, "chat_ack_latency_seconds"), 2);
  assert.equal(value(m, "chat_connections", { transport: "ws", role: "client" }), 1);
  assert.equal(value(m, "chat_connections", { transport: "ws", role: "operator" }), 1);
  assert.equal(value(m, "chat_queue_waiting", { queue: "default" }), 0);
  assert.equal(value(m, "chat_queue_active", { queue: "default" }), 1);
  assert.equal(value(m, "chat_queue_wait_seconds"), 1);
  assert.equal(
    value(m, "chat_http_requests_total", {
      method: "POST",
      route: "/api/v1/chat/chats",
      status: "201",
    }),
    1,
  );
  assert.ok(value(m, "chat_kv_commit_seconds") > 0);
  assert.ok(value(m, "process_resident_memory_bytes") > 0);

  // Every metric the dashboard and the rules read is exposed.
  const exprs = await allExprs();
  const missing = [...new Set(exprs.flatMap(([, e]) => namesIn(e)))].filter((n) => !m.has(n));
  assert.deepEqual(missing, [], "metrics the dashboard or the alerts read but /metrics lacks");

  // The real Prometheus: scrapes the server, loads the rules, answers every query.
  await promTool("promtool", ["--version"]); // fails with how to install it when missing
  const dir = await Deno.makeTempDir({ prefix: "prom-live-" });
  const port = freePort();
  const target = new URL(server.url).host;
  await Deno.copyFile(new URL("deploy/prometheus/alerts.yml", ROOT), `${dir}/alerts.yml`);
  await Deno.writeTextFile(
    `${dir}/prometheus.yml`,
    [
      "global:",
      "  scrape_interval: 1s",
      "  evaluation_interval: 1s",
      "rule_files:",
      `  - ${dir}/alerts.yml`,
      "scrape_configs:",
      "  - job_name: chat",
      "    static_configs:",
      `      - targets: ["${target}"]`,
      "",
    ].join("\n"),
  );
  const prom = new Deno.Command("/usr/bin/prometheus", {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const api = `http://127.0.0.1:${port}/api/v1`;
  const query = async (q: string) => {
    const res = await fetch(`${api}/query?query=${encodeURIComponent(q)}`);
    return await res.json() as {
      status: string;
      error?: string;
      data?: { result: Array<{ value: [number, string] }> };
    };
  };
  try {
    await until("the chat target to be up", 30_000, async () => {
      const r = await query('up{job="chat"}');
      return r.data?.result[0]?.value[1] === "1" ? true : null;
    });
    // A scraped engine series (so queries below read real data, not an empty store).
    const messages = await until("chat_messages_total in Prometheus", 30_000, async () => {
      const r = await query('chat_messages_total{job="chat"}');
      return r.data?.result[0]?.value[1] ?? null;
    });
    assert.equal(messages, "1");
    for (const [where, expr] of exprs) {
      const r = await query(asGrafanaSends(expr));
      assert.equal(r.status, "success", `${where}: ${r.error ?? ""}\n${expr}`);
    }
    const rules = await (await fetch(`${api}/rules`)).json() as {
      data: { groups: Array<{ rules: Array<{ name: string }> }> };
    };
    assert.equal(rules.data.groups.flatMap((g) => g.rules).length, 7, "every alert rule loaded");
  } finally {
    prom.kill("SIGTERM");
    await prom.status;
    await prom.stderr.cancel();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await client.close();
    await op.close();
  }
});

Deno.test("metrics live: the expression check above would catch a name /metrics lacks", () => {
  assert.deepEqual(namesIn("sum(rate(chat_nope_total[1m])) / chat_x_bucket"), [
    "chat_nope_total",
    "chat_x",
  ]);
  assert.equal(
    asGrafanaSends('rate(x{instance=~"$instance"}[$__rate_interval])'),
    'rate(x{instance=~".*"}[1m])',
  );
});

Deno.test("alerts: the dead-letter annotation names a route the engine serves", async () => {
  await using server = await startTestServer();
  const rules = await Deno.readTextFile(new URL("deploy/prometheus/alerts.yml", ROOT));
  const paths = [...rules.matchAll(/GET (\/api\/v1\/chat\/[^\s)]+)/g)].map((x) => x[1]);
  assert.ok(paths.length > 0);
  const doc = await (await fetch(`${server.url}/api/v1/chat/openapi.json`)).json() as {
    paths: Record<string, unknown>;
  };
  for (const p of paths) {
    assert.ok(doc.paths[p] && "get" in (doc.paths[p] as object), `GET ${p} is a route`);
  }
});
