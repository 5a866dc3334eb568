/**
 * `GET /api/v1/chat/admin/cluster` and `deno task ops cluster`: on a 2-node in-process cluster
 * (in-memory broker, one shared KV file) every node reports every partition exactly once, with
 * the owners the nodes themselves hold; on a single node the endpoint says so with empty lists.
 */
import assert from "node:assert/strict";
import { main } from "../../scripts/ops.ts";
import { ranges } from "../../scripts/_ops_output.ts";
import { startTestServer, type TestServer } from "../integration/_harness.ts";
import { PARTITIONS, startCluster } from "./_cluster.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

async function getCluster(server: TestServer, token?: string) {
  const res = await fetch(new URL("/api/v1/chat/admin/cluster", server.url), {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.status, body: await res.json() as Json };
}

/** Runs the ops CLI's `main` in this process against `server`. */
async function ops(server: TestServer, token: string, ...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const env = new Map([["CHAT_URL", server.url], ["ADMIN_TOKEN", token]]);
  const code = await main(args, env, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

Deno.test("admin cluster: each of 2 nodes lists every partition once, owned as the nodes say", async () => {
  await using c = await startCluster(2);
  const all = [...Array(PARTITIONS).keys()];
  const ownerOf = (p: number) => c.nodes.find((s) => s.cluster!.ownership.owned.includes(p))!;
  // Sanity: the nodes themselves split the partitions with no overlap.
  assert.deepEqual(c.nodes.flatMap((s) => s.cluster!.ownership.owned).sort((a, b) => a - b), all);

  const answers: Json[] = [];
  for (const [i, s] of c.nodes.entries()) {
    const admin = await s.staffToken("adm", "admin");
    const { status, body } = await getCluster(s, admin);
    assert.equal(status, 200, JSON.stringify(body));
    answers.push(body);
    assert.equal(body.mode, "cluster");
    assert.deepEqual(body.node, { id: s.cluster!.nodeId, name: `node-${i}` });
    assert.equal(body.command_partitions, PARTITIONS);
    assert.deepEqual(
      body.nodes.map((n: Json) => [n.name, n.node]),
      c.nodes.map((n, j) => [`node-${j}`, n.cluster!.nodeId]),
    );
    for (const n of body.nodes) {
      assert.equal(typeof n.url, "string");
      assert.ok(n.started_at <= n.at, JSON.stringify(n));
    }
    // Every partition exactly once, in order, owned by the node that holds it.
    assert.deepEqual(body.partitions.map((p: Json) => p.partition), all);
    for (const p of body.partitions) {
      const owner = ownerOf(p.partition);
      const name = `node-${c.nodes.indexOf(owner)}`;
      assert.equal(p.node, owner.cluster!.nodeId, `partition ${p.partition}`);
      assert.equal(p.name, name);
      assert.ok(Number.isInteger(p.epoch) && p.epoch >= 1, JSON.stringify(p));
      assert.equal(typeof p.at, "number");
    }
    assert.deepEqual(body.local.owned, s.cluster!.ownership.owned);
    assert.equal(body.local.pending_asks, s.cluster!.pendingAsks);
    assert.deepEqual(Object.keys(body.local.counters).sort(), [
      "fenced",
      "fenced_retries",
      "hand_over_bound",
      "hand_over_wait_ms",
      "hand_over_waits",
      "kafka_errors",
      "kafka_outages",
      "kafka_quieted",
      "kafka_refused",
      "moves",
      "remote_asks",
      "remote_tells",
      "served",
    ]);

    const op = await s.staffToken("op-1");
    const forbidden = await getCluster(s, op);
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.body.error.code, "forbidden");
    const anonymous = await getCluster(s);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.error.code, "unauthorized");
  }
  // Both nodes read the same owner records from the shared KV.
  assert.deepEqual(answers[0].partitions, answers[1].partitions);

  // `ops cluster`: the owners table groups the partitions per node.
  const [n0, n1] = c.nodes;
  const admin = await n0.staffToken("adm", "admin");
  const human = await ops(n1, admin, "cluster");
  assert.equal(human.code, 0, human.stderr);
  const lines = human.stdout.split("\n");
  assert.match(
    lines[0],
    new RegExp(
      `^Cluster: 2 live nodes, ${PARTITIONS} of ${PARTITIONS} partitions owned; ` +
        `answered by node-1 \\(${n1.cluster!.nodeId}\\)\\.$`,
    ),
  );
  const header = lines.indexOf("Partitions by owner:");
  assert.ok(header > 0, human.stdout);
  assert.match(lines[header + 1], /^OWNER\s+ID\s+LIVE\s+COUNT\s+EPOCHS\s+PARTITIONS$/);
  for (const [i, s] of c.nodes.entries()) {
    const owned = s.cluster!.ownership.owned;
    const epochs = answers[0].partitions.filter((p: Json) => p.node === s.cluster!.nodeId)
      .map((p: Json) => p.epoch as number);
    const [lo, hi] = [Math.min(...epochs), Math.max(...epochs)];
    const span = lo === hi ? `${lo}` : `${lo}-${hi}`;
    const row = new RegExp(
      `^node-${i}\\s+${s.cluster!.nodeId}\\s+yes\\s+${owned.length}\\s+${span}\\s+` +
        `${escape(ranges(owned))}$`,
    );
    assert.ok(lines.some((l) => row.test(l)), `no row for node-${i}:\n${human.stdout}`);
  }
  assert.ok(!human.stdout.includes("Unowned"), human.stdout);
  const json = await ops(n0, admin, "cluster", "--json");
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout).partitions, answers[0].partitions);
});

Deno.test("admin cluster: a single node says mode single; documented in the OpenAPI document", async () => {
  await using server = await startTestServer();
  const admin = await server.staffToken("adm", "admin");
  const { status, body } = await getCluster(server, admin);
  assert.equal(status, 200, JSON.stringify(body));
  assert.deepEqual(body, {
    mode: "single",
    node: null,
    command_partitions: null,
    nodes: [],
    partitions: [],
    local: null,
  });
  const forbidden = await getCluster(server, await server.staffToken("lawyer-1", "lawyer"));
  assert.equal(forbidden.status, 403);
  assert.equal(forbidden.body.error.code, "forbidden");

  const doc = await (await fetch(new URL("/api/v1/chat/openapi.json", server.url))).json();
  const route = doc.paths["/api/v1/chat/admin/cluster"]?.get;
  assert.ok(route, Object.keys(doc.paths).join("\n"));
  assert.deepEqual(route.tags, ["admin"]);
  assert.ok(route.responses["403"]);
  assert.equal(
    route.responses["200"].content["application/json"].schema.$ref,
    "#/components/schemas/ClusterStatus",
  );
  assert.ok(doc.components.schemas.ClusterStatus.properties.partitions);

  const out = await ops(server, admin, "cluster");
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout, "Single node (KAFKA_BROKERS not set): no cluster, no partitions.");
});

Deno.test("ops output: partition lists are shown as ranges", () => {
  assert.equal(ranges([]), "-");
  assert.equal(ranges([3]), "3");
  assert.equal(ranges([8, 0, 1, 2, 3, 5, 7]), "0-3,5,7-8");
});
