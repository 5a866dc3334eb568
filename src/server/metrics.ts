/**
 * Prometheus text exposition of the node's metrics: connections, messages, queue, actors and
 * mailboxes, KV commit latency, dispatch errors, WebSocket ping latency, and what integrations
 * add (webhook and Telegram catch-ups).
 */
import { activeCount, waitingCount } from "../../actors/queue.ts";
import { unhandledErrors } from "./last_resort.ts";
import { LATENCY_BUCKETS_MS } from "../runtime/committer.ts";
import type { ActorSystem } from "../runtime/system.ts";
import type { ClusterNode } from "../cluster/node.ts";
import type { Integration } from "../integrations/mod.ts";
import type { ChatService } from "./chat_service.ts";

/** A cumulative histogram in seconds, fed in milliseconds. */
export class Histogram {
  readonly bucketsMs: readonly number[];
  readonly counts: number[];
  sumMs = 0;
  count = 0;
  constructor(bucketsMs: readonly number[]) {
    this.bucketsMs = bucketsMs;
    this.counts = bucketsMs.map(() => 0);
  }
  observe(ms: number): void {
    this.sumMs += ms;
    this.count++;
    const i = this.bucketsMs.findIndex((b) => ms <= b);
    if (i >= 0) this.counts[i]++;
  }
}

/** Round-trip times of WebSocket heartbeats, observed by the transports. */
export const pingLatency = new Histogram([1, 2.5, 5, 10, 25, 50, 100, 250, 1000, 5000]);

type Labels = Record<string, string>;

class Exposition {
  readonly lines: string[] = [];
  metric(name: string, type: "gauge" | "counter", help: string, values: Array<[Labels, number]>) {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of values) this.lines.push(`${name}${fmtLabels(labels)} ${v}`);
  }
  /** A metric with one unlabelled value. */
  single(name: string, type: "gauge" | "counter", help: string, value: number) {
    this.metric(name, type, help, [[{}, value]]);
  }
  histogram(
    name: string,
    help: string,
    bucketsMs: readonly number[],
    counts: readonly number[],
    sumMs: number,
    count: number,
  ) {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    let cumulative = 0;
    bucketsMs.forEach((b, i) => {
      cumulative += counts[i];
      this.lines.push(`${name}_bucket{le="${b / 1000}"} ${cumulative}`);
    });
    this.lines.push(
      `${name}_bucket{le="+Inf"} ${count}`,
      `${name}_sum ${sumMs / 1000}`,
      `${name}_count ${count}`,
    );
  }
}

function clusterMetrics(x: Exposition, node: ClusterNode): void {
  const k = node.counters;
  x.single(
    "chat_cluster_partitions_owned",
    "gauge",
    "Partitions of chat.commands owned here",
    node.ownership.owned.length,
  );
  x.single(
    "chat_cluster_nodes_live",
    "gauge",
    "Nodes with a fresh heartbeat in KV",
    node.registry.live.length,
  );
  x.single(
    "chat_cluster_pending_asks",
    "gauge",
    "Asks waiting for another node's reply",
    node.pendingAsks,
  );
  x.single("chat_cluster_remote_asks_total", "counter", "Asks sent to another node", k.remoteAsks);
  x.single(
    "chat_cluster_remote_tells_total",
    "counter",
    "Tells sent to another node",
    k.remoteTells,
  );
  x.single("chat_cluster_served_total", "counter", "Commands from other nodes run here", k.served);
  x.single(
    "chat_cluster_fenced_total",
    "counter",
    "Writes refused by a newer owner's epoch",
    k.fenced,
  );
  x.single("chat_cluster_moves_total", "counter", "Partition assignments and revocations", k.moves);
  x.single(
    "chat_cluster_audit_published_total",
    "counter",
    "Audit records this node produced to chat.audit (it publishes while it owns partition 0)",
    node.auditFeed.published,
  );
}

function fmtLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, "_")}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

export function renderMetrics(
  system: ActorSystem,
  svc: ChatService,
  cluster: ClusterNode | null = null,
  integrations: readonly Integration[] = [],
): string {
  const x = new Exposition();
  const s = system.stats();
  const c = system.committer.stats;
  const byRole = svc.hub.countByRole();
  const queue = svc.queueState();
  x.metric(
    "chat_connections",
    "gauge",
    "Open client and staff connections by role",
    Object.entries(byRole).map(([role, n]) => [{ role }, n]),
  );
  x.single(
    "chat_connections_peak",
    "gauge",
    "Most connections open at once since start",
    svc.hub.peakConnections,
  );
  x.single(
    "chat_messages_total",
    "counter",
    "Chat messages stored since start",
    svc.counters.messages,
  );
  // Reported by the node that hosts the queue (every node on one; its owner in a cluster).
  x.metric(
    "chat_queue_waiting",
    "gauge",
    "Chats waiting in the queue",
    queue ? [[{ queue: svc.queueName }, waitingCount(queue)]] : [],
  );
  x.metric(
    "chat_queue_active",
    "gauge",
    "Chats assigned to an operator",
    queue ? [[{ queue: svc.queueName }, activeCount(queue)]] : [],
  );
  if (cluster) clusterMetrics(x, cluster);
  x.single("chat_actors", "gauge", "Actors in memory", s.actors);
  x.single(
    "chat_mailbox_depth",
    "gauge",
    "Messages waiting in all actor mailboxes",
    s.mailboxDepth,
  );
  x.single("chat_mailbox_depth_max", "gauge", "Deepest single actor mailbox", s.maxMailboxDepth);
  x.single("chat_actor_restarts_total", "counter", "Actors restarted after a failure", s.restarts);
  x.single("chat_actor_recoveries_total", "counter", "Actor recoveries from storage", s.recoveries);
  x.single("chat_actor_passivations_total", "counter", "Idle actors passivated", s.passivations);
  x.single(
    "chat_dispatch_errors_total",
    "counter",
    "Effects, listeners or deliveries that failed",
    s.dispatchErrors,
  );
  x.single(
    "chat_unhandled_errors_total",
    "counter",
    "Exceptions and rejections nothing handled (logged; the process went on); each is a bug",
    unhandledErrors(),
  );
  x.single(
    "chat_kv_commits_total",
    "counter",
    "KV atomics committed by the group committer",
    c.commits,
  );
  x.single(
    "chat_kv_commit_requests_total",
    "counter",
    "Actor write requests packed into those atomics",
    c.requests,
  );
  x.single("chat_kv_commit_failures_total", "counter", "KV atomics that failed", c.failures);
  x.histogram(
    "chat_kv_commit_seconds",
    "KV atomic commit latency",
    LATENCY_BUCKETS_MS,
    c.latencyBuckets,
    c.latencySumMs,
    c.commits,
  );
  x.histogram(
    "chat_ws_ping_latency_seconds",
    "WebSocket heartbeat round-trip time",
    pingLatency.bucketsMs,
    pingLatency.counts,
    pingLatency.sumMs,
    pingLatency.count,
  );
  for (const i of integrations) {
    for (const m of i.metrics?.() ?? []) x.single(m.name, m.type, m.help, m.value);
  }
  return x.lines.join("\n") + "\n";
}
