/**
 * Engine processes on librdkafka's mock cluster (a mock speaking the Kafka protocol, NOT a real
 * broker), for the two-process tests: spawns a node with its stderr (the log) kept in memory,
 * reads the admin cluster view, and waits for the cluster to reach a shape. Real processes and
 * real time: waits poll with guard timeouts, never sleep as synchronisation.
 */
import { TEST_LIMITS, TEST_SECRET } from "../integration/_harness.ts";
import { childAuth } from "../integration/_harness.ts";

/** KAFKA_NODES_LOG=1 echoes the nodes' logs to stderr (for debugging a failing test). */
const ECHO = Deno.env.get("KAFKA_NODES_LOG") === "1";

export interface KafkaNode {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly process: Deno.ChildProcess;
  /** Every log line the node has written to stderr so far. */
  readonly log: string[];
  /** Resolves with the exit status. */
  readonly status: Promise<Deno.CommandStatus>;
  kill(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/**
 * A node's settings on the mock: its brokers, `partitions` command partitions and the quick group
 * timings the two-process tests use (3 s session timeout, 300 ms Kafka heartbeats, 1 s node
 * heartbeats), plus `extra`.
 */
export function mockNodeEnv(
  bootstrap: string,
  partitions: number,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    KAFKA_BROKERS: bootstrap,
    COMMAND_PARTITIONS: String(partitions),
    KAFKA_SESSION_TIMEOUT_MS: "3000",
    KAFKA_HEARTBEAT_MS: "300",
    KAFKA_MAX_WAIT_MS: "20",
    NODE_HEARTBEAT_S: "1",
    ...extra,
  };
}

/** Starts `src/main.ts` as a cluster node; resolves once it listens (it has joined by then). */
export async function spawnNode(
  name: string,
  kvPath: string,
  env: Record<string, string>,
): Promise<KafkaNode> {
  const main = new URL("../../src/main.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", main],
    env: {
      PORT: "0",
      HOST: "127.0.0.1",
      KV_PATH: kvPath,
      JWT_SECRET: TEST_SECRET,
      LOG_LEVEL: "warn",
      BOT_MODE: "off",
      TITLE_MODE: "off",
      NODE_NAME: name,
      ...TEST_LIMITS,
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  void (async () => {
    let rest = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      let nl: number;
      while ((nl = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        log.push(line);
        if (ECHO) console.error(`[${name}] ${line}`);
      }
    }
  })().catch(() => {});
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!/\(port (\d+)\)/.test(out)) {
    const { value, done } = await reader.read();
    if (done) {
      throw new Error(`${name} exited before listening: ${out}\n${log.slice(-20).join("\n")}`);
    }
    out += value;
  }
  void (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  const port = Number(/\(port (\d+)\)/.exec(out)![1]);
  const status = child.status;
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    port,
    process: child,
    log,
    status,
    async kill(signal: Deno.Signal = "SIGKILL") {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      return await status;
    },
  };
}

export interface ClusterStatus {
  nodes: Array<{ node: string; name: string }>;
  partitions: Array<{ partition: number; node: string; name: string; epoch: number }>;
  local: { owned: number[]; counters: Record<string, number> } | null;
}

const auth = childAuth();
let adminToken: Promise<string> | null = null;

/** The admin cluster view as `node` answers it. */
export async function clusterStatus(node: { url: string }): Promise<ClusterStatus> {
  adminToken ??= auth.mintStaffToken({ sub: "adm", role: "admin", ttlSeconds: 3600 });
  const res = await fetch(`${node.url}/api/v1/chat/admin/cluster`, {
    headers: { authorization: `Bearer ${await adminToken}` },
  });
  if (!res.ok) throw new Error(`cluster view: ${res.status} ${await res.text()}`);
  return await res.json() as ClusterStatus;
}

/** Polls `check` every 100 ms until it returns a value; fails after `timeoutMs` (a guard). */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown = undefined;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`never happened: ${what} (last error: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Partitions owned per node name, from the owner records and the node's own view. */
export async function untilOwners(
  node: { url: string },
  partitions: number,
  names: readonly string[],
  what: string,
): Promise<ClusterStatus> {
  return await until(what, async () => {
    const s = await clusterStatus(node);
    const owners = new Set(s.partitions.map((p) => p.name));
    const all = new Set(s.partitions.map((p) => p.partition)).size === partitions;
    const live = new Set(s.nodes.map((n) => n.name));
    const ok = all && owners.size === names.length && names.every((n) => owners.has(n)) &&
      live.size === names.length && names.every((n) => live.has(n));
    return ok ? s : undefined;
  });
}
