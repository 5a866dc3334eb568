/**
 * The observability files a team imports (deploy/): Prometheus' config and alert rules proven by
 * Debian's promtool (syntax, and unit tests that each alert fires on the series it should and
 * not on healthy ones); the Grafana provisioning and dashboard read as Grafana would; the compose
 * profile wiring them up without touching the default services.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";

import { alertExprs, dashboard, path, promTool, read } from "./_observability.ts";

Deno.test("alert rules: promtool accepts them and their unit tests pass", async () => {
  const check = await promTool("promtool", [
    "check",
    "rules",
    path("deploy/prometheus/alerts.yml"),
  ]);
  assert.ok(check.ok, check.out);
  const names = (await alertExprs()).map(([n]) => n).sort();
  assert.deepEqual(names, [
    "ChatHighErrorRate",
    "ChatKafkaConsumerLag",
    "ChatKvCommitSlow",
    "ChatNodeDown",
    "ChatOutboxDeadLetters",
    "ChatQueueWaitHigh",
    "ChatUnhandledErrors",
  ]);
  const unit = await promTool("promtool", [
    "test",
    "rules",
    path("deploy/prometheus/alerts_test.yml"),
  ]);
  assert.ok(unit.ok, unit.out);
  // Every alert has a firing case in the unit tests.
  const tests = await read("deploy/prometheus/alerts_test.yml");
  for (const n of names) {
    assert.match(tests, new RegExp(`alertname: ${n}\\n\\s+exp_alerts:\\n\\s+- `));
  }
});

Deno.test("prometheus.yml: promtool accepts it with its rule file, scraping every engine node", async () => {
  const dir = await Deno.makeTempDir({ prefix: "prom-config-" });
  try {
    const config = (await read("deploy/prometheus/prometheus.yml"))
      .replace("/etc/prometheus/alerts.yml", `${dir}/alerts.yml`);
    await Deno.writeTextFile(`${dir}/prometheus.yml`, config);
    await Deno.copyFile(path("deploy/prometheus/alerts.yml"), `${dir}/alerts.yml`);
    const check = await promTool("promtool", ["check", "config", `${dir}/prometheus.yml`]);
    assert.ok(check.ok, check.out);
    assert.match(check.out, /SUCCESS: 7 rules found/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const doc = parseYaml(await read("deploy/prometheus/prometheus.yml")) as {
    scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
  };
  const job = doc.scrape_configs.find((s) => s.job_name === "chat");
  assert.ok(job, 'a job named chat (the alerts and the dashboard select job="chat")');
  const compose = parseYaml(await read("docker-compose.yml"), { merge: true }) as {
    services: Record<string, { profiles?: string[]; environment?: Record<string, string> }>;
  };
  const engines = Object.keys(compose.services).filter((s) => /^engine-\d+$/.test(s));
  assert.ok(engines.length >= 2);
  assert.deepEqual(
    job.static_configs.flatMap((c) => c.targets).sort(),
    engines.map((e) => `${e}:${compose.services[e].environment?.PORT ?? "8080"}`).sort(),
  );
});

Deno.test("grafana: the data source and the dashboard provider are what the dashboard expects", async () => {
  const ds = parseYaml(await read("deploy/grafana/provisioning/datasources/prometheus.yml")) as {
    apiVersion: number;
    datasources: Array<{ uid: string; type: string; url: string }>;
  };
  assert.equal(ds.apiVersion, 1);
  assert.deepEqual(ds.datasources.map((d) => [d.type, d.uid, d.url]), [
    ["prometheus", "chat-prometheus", "http://prometheus:9090"],
  ]);
  const prov = parseYaml(await read("deploy/grafana/provisioning/dashboards/chat.yml")) as {
    providers: Array<{ type: string; options: { path: string } }>;
  };
  assert.equal(prov.providers[0].type, "file");
  const d = await dashboard();
  const dsVar = d.templating.list.find((v) => v.type === "datasource");
  assert.equal(dsVar?.current?.value, "chat-prometheus", "the provisioned data source by default");
  // Compose mounts the dashboards where the provider reads them.
  const compose = await read("docker-compose.yml");
  assert.ok(compose.includes(`./deploy/grafana/dashboards:${prov.providers[0].options.path}:ro`));
});

Deno.test("grafana dashboard: every section, panels on the grid without overlaps, each with a query", async () => {
  const d = await dashboard();
  assert.equal(d.uid, "support-chat");
  const rows = d.panels.filter((p) => p.type === "row").map((p) => p.title);
  assert.deepEqual(rows, [
    "Overview",
    "Traffic",
    "Latency",
    "Queue",
    "Errors",
    "Kafka",
    "Resources",
  ]);
  const ids = d.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, "panel ids are unique");
  const cells = new Set<string>();
  for (const p of d.panels) {
    const g = p.gridPos;
    assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24, `${p.title}: within the 24 columns`);
    for (let x = g.x; x < g.x + g.w; x++) {
      for (let y = g.y; y < g.y + g.h; y++) {
        assert.ok(!cells.has(`${x},${y}`), `${p.title}: overlaps another panel at ${x},${y}`);
        cells.add(`${x},${y}`);
      }
    }
    if (p.type === "row") continue;
    assert.equal(p.datasource?.uid, "${datasource}", `${p.title}: the chosen data source`);
    assert.ok(p.targets?.length, `${p.title}: has queries`);
    const refs = p.targets!.map((t) => t.refId);
    assert.equal(new Set(refs).size, refs.length, `${p.title}: refIds unique`);
    for (const t of p.targets!) assert.ok(t.expr.trim(), `${p.title}: ${t.refId} has PromQL`);
  }
});

Deno.test("compose: Prometheus and Grafana only in the observability profile, their files present", async () => {
  const doc = parseYaml(await read("docker-compose.yml"), { merge: true }) as {
    services: Record<
      string,
      { image?: string; profiles?: string[]; volumes?: string[]; ports?: string[] }
    >;
    volumes: Record<string, unknown>;
  };
  for (const name of ["prometheus", "grafana"]) {
    const s = doc.services[name];
    assert.ok(s, `service ${name}`);
    assert.deepEqual(s.profiles, ["observability"], `${name} stays out of the default start`);
    assert.match(s.image ?? "", /:v?\d+\.\d+\.\d+$/, `${name}: a pinned image`);
    for (const v of s.volumes ?? []) {
      const [src] = v.split(":");
      if (src.startsWith("./")) await Deno.stat(path(src.slice(2))); // throws when missing
      else assert.ok(src in doc.volumes, `${name}: volume ${src} is declared`);
    }
    for (const p of s.ports ?? []) assert.match(p, /^127\.0\.0\.1:/, `${name}: local port only`);
  }
});
