/**
 * Cluster nodes without HTTP for unit tests: a `ClusterNode` and its `ActorSystem` on a broker
 * (usually the in-memory one) and a KV handle, and a polling guard for conditions outside the
 * broker's view.
 */
import type { Broker } from "../../src/cluster/broker.ts";
import { ClusterNode } from "../../src/cluster/node.ts";
import { silentLogger } from "../../src/log.ts";
import { SystemClock } from "../../src/runtime/clock.ts";
import type { AnyEntity } from "../../src/runtime/entity.ts";
import { ActorSystem } from "../../src/runtime/system.ts";
import { counter } from "../runtime/_counter.ts";

export const PARTITIONS = 12;

export interface TestNode {
  readonly node: ClusterNode;
  readonly system: ActorSystem;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A cluster node and its actor system (no HTTP); `systemKv` is what the actors write through. */
export function makeNode(
  name: string,
  broker: Broker,
  kv: Deno.Kv,
  opts: {
    systemKv?: Deno.Kv;
    handOverBoundMs?: number;
    entities?: readonly AnyEntity[];
    askTimeoutMs?: number;
  } = {},
): TestNode {
  const clock = new SystemClock();
  const node = new ClusterNode({
    broker,
    kv,
    clock,
    log: silentLogger,
    nodeId: `${name}-${crypto.randomUUID().slice(0, 8)}`,
    name,
    url: `http://${name}`,
    askTimeoutMs: opts.askTimeoutMs ?? 5000,
    heartbeatMs: 5000,
    ...(opts.handOverBoundMs !== undefined ? { handOverBoundMs: opts.handOverBoundMs } : {}),
  });
  const system = new ActorSystem({
    kv: opts.systemKv ?? kv,
    clock,
    entities: opts.entities ?? [counter],
    fence: node.fence,
    forward: node.forward,
    onFenced: node.onFenced,
    passivateAfterMs: 0,
    owedSweepMs: 0,
  });
  return {
    node,
    system,
    start: () => node.start({ system, applyOps: () => {}, queue: "default" }),
    async stop() {
      await node.stop();
      await system.shutdown();
    },
  };
}

/** Polls `check` on every macrotask turn until it holds; a guard, not a synchronisation delay. */
export async function until(what: string, check: () => boolean | Promise<boolean>) {
  const end = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}
