/**
 * The node's Prometheus metrics on prom-client, one registry per server (several servers in one
 * process, as in tests, each expose their own figures) for the engine's own, and prom-client's
 * process and runtime metrics, collected once per process and added to every exposition. What is state (queue, actors, mailboxes, outboxes, consumer lag)
 * is read live when scraped (collect callbacks), so nothing is counted twice; what happens
 * (requests, frames, acks, commits, pings, claims) is observed as it happens. Label values are
 * escaped by prom-client; every label has a bounded set of values (routes are Hono's patterns,
 * frame types and error codes come from the protocol's tables). docs/OPERATIONS.md, "Metrics".
 */
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  type LabelValues,
  Registry,
} from "prom-client";
import { activeCount, waitingCount } from "../../actors/queue.ts";
import type { QueueState } from "../../actors/_queue_types.ts";
import { unhandledErrors } from "./last_resort.ts";
import type { ActorSystem } from "../runtime/system.ts";
import type { Clock } from "../runtime/clock.ts";
import type { ClusterNode } from "../cluster/node.ts";
import type { Integration, IntegrationMetric } from "../integrations/mod.ts";
import type { OutboundFrame } from "../protocol/mod.ts";
import type { ChatService } from "./chat_service.ts";

/** What the connection handler reports (src/server/connection_handler.ts). */
export interface FrameMetrics {
  /** An inbound frame that parsed, by its type. */
  frame(type: string): void;
  /** A handled frame's reply and how long handling took (ms). */
  handled(reply: OutboundFrame | null, ms: number): void;
  /** A heartbeat's round trip (ms). */
  ping(ms: number): void;
}

export interface MetricsSources {
  readonly system: ActorSystem;
  readonly svc: ChatService;
  readonly clock: Clock;
  readonly cluster?: ClusterNode | null;
  /** The integrations (started after the metrics are made). */
  readonly integrations?: () => readonly Integration[];
  /** Kafka consumer lag of chat.commands by partition (cluster mode). */
  readonly kafkaLag?: () => Iterable<readonly [number, number]>;
}

/** Transports and roles: every pair is a `chat_connections` series (zero when none are open). */
export const TRANSPORTS = ["ws", "sse", "socketio"] as const;
const ROLES = ["client", "operator", "lawyer", "admin"] as const;

/** Integration metrics the dashboard reads: exposed (as 0) also when their integration is off. */
const ALWAYS: readonly IntegrationMetric[] = [
  {
    name: "chat_webhook_outbox_pending",
    type: "gauge",
    help: "Webhook deliveries in the outbox (the shared KV's count)",
    value: 0,
  },
  {
    name: "chat_webhook_dead_letters_total",
    type: "counter",
    help: "Webhook deliveries this node gave up on (kept as dead letters)",
    value: 0,
  },
  {
    name: "chat_telegram_replies_pending",
    type: "gauge",
    help: "Operator replies waiting to be sent to Telegram",
    value: 0,
  },
];

let processMetrics: Registry | null = null;

/**
 * prom-client's process and runtime metrics (CPU, memory, file descriptors, event-loop lag, GC),
 * collected once per process: they describe the process, whichever server is scraped, and each
 * collection starts an event-loop monitor and a GC observer that nothing stops.
 */
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

/** Owed commands counted at most (a scrape must stay cheap). */
const OWED_COUNT_LIMIT = 10_000;

const s = (ms: number) => ms / 1000;
type Read = () => number | Promise<number>;

export class EngineMetrics implements FrameMetrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<"method" | "route" | "status">;
  readonly httpDuration: Histogram<"method" | "route">;
  readonly #frames: Counter<"type">;
  readonly #frameErrors: Counter<"code">;
  readonly #ackLatency: Histogram;
  readonly #pingLatency: Histogram;
  readonly #kvCommit: Histogram;
  readonly #kvMutations: Histogram;
  readonly #queueWait: Histogram;
  readonly #integrationMetrics = new Map<string, Gauge | Counter>();
  readonly #unsubscribe: () => void;
  readonly #src: MetricsSources;

  constructor(src: MetricsSources) {
    this.#src = src;
    const registers = [this.registry];
    processRegistry();
    this.httpRequests = new Counter({
      name: "chat_http_requests_total",
      help: "HTTP requests answered, by method, route pattern and status",
      labelNames: ["method", "route", "status"],
      registers,
    });
    this.httpDuration = new Histogram({
      name: "chat_http_request_duration_seconds",
      help: "HTTP request handling time (to the response's headers), by method and route pattern",
      labelNames: ["method", "route"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#frames = new Counter({
      name: "chat_frames_total",
      help: "Inbound protocol frames (all transports), by type",
      labelNames: ["type"],
      registers,
    });
    this.#frameErrors = new Counter({
      name: "chat_frame_errors_total",
      help: "error frames sent in answer to inbound frames, by error code",
      labelNames: ["code"],
      registers,
    });
    this.#ackLatency = new Histogram({
      name: "chat_ack_latency_seconds",
      help: "Inbound frame to its ack (the command stored and answered)",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.#pingLatency = new Histogram({
      name: "chat_ws_ping_latency_seconds",
      help: "Heartbeat round-trip time (ping sent to pong received)",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    });
    this.#kvCommit = new Histogram({
      name: "chat_kv_commit_seconds",
      help: "KV atomic commit latency (group committer)",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.#kvMutations = new Histogram({
      name: "chat_kv_commit_mutations",
      help: "Mutations per committed KV atomic",
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers,
    });
    this.#queueWait = new Histogram({
      name: "chat_queue_wait_seconds",
      help: "How long a chat waited in the queue until an operator took it",
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    });
    this.#state();
    const { system } = src;
    system.committer.onCommit = (ms, mutations) => {
      this.#kvCommit.observe(s(ms));
      this.#kvMutations.observe(mutations);
    };
    this.#unsubscribe = system.onCommitted((address, envelopes) => {
      if (address.type !== "queue") return;
      for (const env of envelopes) {
        const e = env.event as { type?: string; waitedMs?: number };
        if (e.type === "claimed" && typeof e.waitedMs === "number") {
          this.#queueWait.observe(s(e.waitedMs));
        }
      }
    });
    for (const m of ALWAYS) this.#integrationMetric(m);
  }

  frame(type: string): void {
    this.#frames.inc({ type });
  }

  handled(reply: OutboundFrame | null, ms: number): void {
    if (reply?.type === "ack") this.#ackLatency.observe(s(ms));
    else if (reply?.type === "error") {
      this.#frameErrors.inc({ code: String((reply.payload as { code?: unknown }).code) });
    }
  }

  ping(ms: number): void {
    this.#pingLatency.observe(s(ms));
  }

  /** The exposition (Prometheus text format 0.0.4). */
  async render(): Promise<string> {
    await this.#refreshIntegrations();
    // prom-client separates metrics with blank lines; the format allows them, readers differ.
    const all = Registry.merge([processRegistry(), this.registry]);
    return (await all.metrics()).replace(/\n\n+/g, "\n");
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stops observing the node (at shutdown). */
  close(): void {
    this.#unsubscribe();
    this.#src.system.committer.onCommit = null;
  }

  /** Metrics read from live state when scraped. */
  #state(): void {
    const { system, svc, clock } = this.#src;
    const cluster = this.#src.cluster ?? null;
    const stats = () => system.stats();
    const committed = () => system.committer.stats;
    const queue = (read: (q: QueueState) => number) => (): Array<[LabelValues<string>, number]> => {
      const q = svc.queueState();
      return q ? [[{ queue: svc.queueName }, read(q)]] : [];
    };
    this.#labelled(
      "chat_connections",
      "Open connections on this node, by transport and role",
      ["transport", "role"],
      () => {
        const n = svc.hub.countByTransport();
        return TRANSPORTS.flatMap((transport) =>
          ROLES.map((role): [LabelValues<string>, number] => [
            { transport, role },
            n.get(`${transport}/${role}`) ?? 0,
          ])
        );
      },
    );
    this.#gauge(
      "chat_connections_peak",
      "Most connections open at once since start",
      () => svc.hub.peakConnections,
    );
    this.#counter(
      "chat_messages_total",
      "Chat messages stored since start",
      () => svc.counters.messages,
    );
    // Reported by the node that holds the queue (every node on its own; its owner in a cluster).
    this.#labelled(
      "chat_queue_waiting",
      "Chats waiting in the queue",
      ["queue"],
      queue(waitingCount),
    );
    this.#labelled(
      "chat_queue_active",
      "Chats taken by an operator",
      ["queue"],
      queue(activeCount),
    );
    this.#labelled(
      "chat_queue_oldest_wait_seconds",
      "How long the longest-waiting chat has waited",
      ["queue"],
      queue((q) => oldestWaitS(q, clock.now())),
    );
    this.#labelled(
      "chat_queue_operators_online",
      "Operators online and connected (whatever their load)",
      ["queue"],
      queue(operatorsOnline),
    );
    this.#gauge("chat_actors", "Actors in memory", () => stats().actors);
    this.#gauge(
      "chat_mailbox_depth",
      "Messages waiting in all actor mailboxes",
      () => stats().mailboxDepth,
    );
    this.#gauge(
      "chat_mailbox_depth_max",
      "Deepest single actor mailbox",
      () => stats().maxMailboxDepth,
    );
    this.#counter(
      "chat_actor_restarts_total",
      "Actors restarted after a failure",
      () => stats().restarts,
    );
    this.#counter(
      "chat_actor_recoveries_total",
      "Actor recoveries from storage",
      () => stats().recoveries,
    );
    this.#counter(
      "chat_actor_passivations_total",
      "Idle actors passivated",
      () => stats().passivations,
    );
    this.#counter(
      "chat_dispatch_errors_total",
      "Effects, listeners or deliveries that failed",
      () => stats().dispatchErrors,
    );
    this.#counter(
      "chat_unhandled_errors_total",
      "Exceptions and rejections nothing handled (logged; the process went on); each is a bug",
      unhandledErrors,
    );
    this.#counter(
      "chat_kv_commits_total",
      "KV atomics committed by the group committer",
      () => committed().commits,
    );
    this.#counter(
      "chat_kv_commit_requests_total",
      "Actor write requests packed into those atomics",
      () => committed().requests,
    );
    this.#counter(
      "chat_kv_commit_failures_total",
      "KV atomics that failed",
      () => committed().failures,
    );
    this.#gauge(
      "chat_outbox_owed",
      "Commands actors owe each other and that are not yet delivered (the shared KV's count)",
      async () => {
        let n = 0;
        for await (const _ of system.journal.owed()) if (++n >= OWED_COUNT_LIMIT) break;
        return n;
      },
    );
    this.#labelled(
      "chat_kafka_consumer_lag",
      "Records of chat.commands not yet handled, by partition held here (cluster mode)",
      ["partition"],
      () => [...this.#src.kafkaLag?.() ?? []].map(([p, lag]) => [{ partition: String(p) }, lag]),
    );
    const k = () => cluster?.counters;
    this.#gauge(
      "chat_cluster_partitions_owned",
      "Partitions of chat.commands owned here",
      () => cluster?.ownership.owned.length ?? 0,
    );
    this.#gauge(
      "chat_cluster_nodes_live",
      "Nodes with a fresh heartbeat in KV",
      () => cluster?.registry.live.length ?? 0,
    );
    this.#gauge(
      "chat_cluster_pending_asks",
      "Asks waiting for another node's reply",
      () => cluster?.pendingAsks ?? 0,
    );
    this.#counter(
      "chat_cluster_remote_asks_total",
      "Asks sent to another node",
      () => k()?.remoteAsks ?? 0,
    );
    this.#counter(
      "chat_cluster_remote_tells_total",
      "Tells sent to another node",
      () => k()?.remoteTells ?? 0,
    );
    this.#counter(
      "chat_cluster_served_total",
      "Commands from other nodes run here",
      () => k()?.served ?? 0,
    );
    this.#counter(
      "chat_cluster_fenced_total",
      "Writes refused by a newer owner's epoch",
      () => k()?.fenced ?? 0,
    );
    this.#counter(
      "chat_cluster_moves_total",
      "Partition assignments and revocations",
      () => k()?.moves ?? 0,
    );
    this.#counter(
      "chat_cluster_audit_published_total",
      "Audit records this node produced to chat.audit (it publishes while it owns partition 0)",
      () => cluster?.auditFeed.published ?? 0,
    );
  }

  #gauge(name: string, help: string, read: Read): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        this.set(await read());
      },
    });
  }

  /** A counter whose total lives elsewhere (the runtime's, the hub's own counts). */
  #counter(name: string, help: string, read: Read): void {
    new Counter({
      name,
      help,
      registers: [this.registry],
      async collect() {
        const v = await read();
        this.reset();
        this.inc(v);
      },
    });
  }

  #labelled(
    name: string,
    help: string,
    labelNames: string[],
    read: () => Array<[LabelValues<string>, number]>,
  ): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, v] of read()) this.set(labels, v);
      },
    });
  }

  #integrationMetric(m: IntegrationMetric): void {
    let metric = this.#integrationMetrics.get(m.name);
    if (!metric) {
      const o = { name: m.name, help: m.help, registers: [this.registry] };
      metric = m.type === "counter" ? new Counter(o) : new Gauge(o);
      this.#integrationMetrics.set(m.name, metric);
    }
    if (metric instanceof Gauge) metric.set(m.value);
    else {
      metric.reset();
      metric.inc(m.value);
    }
  }

  async #refreshIntegrations(): Promise<void> {
    for (const i of this.#src.integrations?.() ?? []) {
      for (const m of await i.metrics?.() ?? []) this.#integrationMetric(m);
    }
  }
}

/** Seconds the longest-waiting chat has waited (0 when none waits). O(waiting). */
export function oldestWaitS(q: QueueState, now: number): number {
  let oldest = Infinity;
  for (const [, w] of q.waitingById.entries()) oldest = Math.min(oldest, w.enqueuedAt);
  return oldest === Infinity ? 0 : Math.max(0, s(now - oldest));
}

/** Operators online and connected, whatever their load. O(roster). */
function operatorsOnline(q: QueueState): number {
  let n = 0;
  for (const [, slot] of q.operators.entries()) {
    if (slot.role === "operator" && slot.status === "online" && slot.connected) n++;
  }
  return n;
}
