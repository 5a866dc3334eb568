/**
 * Several engine nodes in one process: each a real server (HTTP, WebSocket, actor system) on its
 * own free port, all on one shared KV file and one in-memory broker, as a cluster would be on
 * Kafka and a shared KV.
 */
import { loadConfig } from "../../src/config.ts";
import { createLogger, type Level, silentLogger } from "../../src/log.ts";
import { MemoryBroker } from "../../src/cluster/memory_broker.ts";
import { clusterTopics, partitionOf } from "../../src/cluster/topics.ts";
import { startServer } from "../../src/server/server.ts";
import { TEST_SECRET, type TestServer, withHelpers } from "../integration/_harness.ts";

export const PARTITIONS = 12;
/** CLUSTER_TEST_LOG=debug|info|warn prints the nodes' logs (for debugging a failing test). */
const level = Deno.env.get("CLUSTER_TEST_LOG") as Level | undefined;
const logFor = (name: string) =>
  level ? createLogger(level, (line) => console.error(`[${name}] ${line}`)) : silentLogger;
const env = { get: (k: string) => (k === "JWT_SECRET" ? TEST_SECRET : undefined) };

export interface TestCluster {
  readonly broker: MemoryBroker;
  readonly nodes: TestServer[];
  readonly kvPath: string;
  /** The node that owns an actor now (by partition), or undefined while it moves. */
  ownerOf(type: string, id: string): TestServer | undefined;
  /** The broker connection of one node (its own `outage` hook). */
  brokerOf(node: TestServer): MemoryBroker;
  /**
   * Resolves once the broker is idle and no node waits for a hand-over (a crashed owner is waited
   * for up to the broker's session timeout before its partitions are claimed).
   */
  settled(): Promise<void>;
  start(name: string): Promise<TestServer>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startCluster(
  n: number,
  overrides: Record<string, string> = {},
  brokerOpts: { maxRecordBytes?: number } = {},
): Promise<TestCluster> {
  const dir = await Deno.makeTempDir({ prefix: "chat-cluster-" });
  const kvPath = `${dir}/chat.kv`;
  // One KV handle for every node: in one process that is how they share the file (SQLite locks
  // between handles are for separate processes; see retryWhileLocked).
  const kv = await Deno.openKv(kvPath);
  const broker = new MemoryBroker({
    topics: clusterTopics(PARTITIONS),
    logger: silentLogger,
    ...brokerOpts,
  });
  const nodes: TestServer[] = [];
  const brokers = new Map<TestServer, MemoryBroker>();
  const settled = async () => {
    await broker.idle();
    await Promise.all(nodes.map((n) => n.cluster?.claimed()));
    await broker.idle();
  };
  const start = async (name: string) => {
    const config = loadConfig({
      PORT: "0",
      HOST: "127.0.0.1",
      KV_PATH: kvPath,
      LOG_LEVEL: "error",
      NODE_NAME: name,
      COMMAND_PARTITIONS: String(PARTITIONS),
      BOT_MODE: "off",
      TITLE_MODE: "off",
      ...overrides,
    });
    const own = broker.connect();
    const server = await startServer(config, { logger: logFor(name), env, broker: own, kv });
    const node = withHelpers(server, server.auth, () => server.shutdown());
    nodes.push(node);
    brokers.set(node, own);
    await settled();
    return node;
  };
  for (let i = 0; i < n; i++) await start(`node-${i}`);
  await settled();
  return {
    broker,
    nodes,
    kvPath,
    start,
    ownerOf: (type, id) =>
      nodes.find((s) => s.cluster?.ownership.owns(partitionOf({ type, id }, PARTITIONS))),
    brokerOf: (node) => brokers.get(node)!,
    settled,
    async [Symbol.asyncDispose]() {
      for (const s of nodes) await s.shutdown().catch(() => {});
      await broker.close();
      kv.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
