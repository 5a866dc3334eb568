/** Builds and starts a node: KV, actor system, hub, chat service, HTTP app. */
import { Hono } from "hono";
import { dirname } from "node:path";
import { chatStaffEntity } from "../../actors/chat_staff.ts";
import { clientEntity } from "../../actors/client.ts";
import { operatorEntity } from "../../actors/operator.ts";
import { queueEntity } from "../../actors/queue.ts";
import { sessionEntity } from "../../actors/session.ts";
import { chatWsRoutes } from "../../routes/chat_ws.ts";
import type { RouteDeps } from "../../routes/deps.ts";
import { healthRoutes } from "../../routes/health.ts";
import { apiRoutes } from "../../routes/openapi.ts";
import { webRoutes } from "../../routes/web.ts";
import type { Authenticator } from "../auth/mod.ts";
import { setUpAuth } from "../auth/setup.ts";
import type { Config } from "../config.ts";
import { createLogger, type Logger } from "../log.ts";
import { type Clock, SystemClock } from "../runtime/clock.ts";
import { ActorSystem } from "../runtime/system.ts";
import type { Broker } from "../cluster/broker.ts";
import { ClusterNode } from "../cluster/node.ts";
import { startIntegrations, stopIntegrations } from "../integrations/mod.ts";
import { attachmentOrigins } from "../integrations/attachments/mod.ts";
import { clusterTopics } from "../cluster/topics.ts";
import { ChatService } from "./chat_service.ts";
import { RoutingService } from "./routing_service.ts";
import { CLOSE } from "./connection_handler.ts";
import { bodyLimits, installErrorHandling } from "./http.ts";
import { AddressLimits } from "./address_limits.ts";
import { UserLimits } from "./limits.ts";
import { Visitors } from "./visitors.ts";
import { Hub } from "./hub.ts";
import { attachSocketIo } from "./socketio.ts";
import { startEdge } from "./edge/edge.ts";
import { EngineMetrics } from "./metrics.ts";
import { httpMetrics, requestIds } from "./request_context.ts";

export interface RunningServer {
  readonly port: number;
  readonly url: string;
  readonly svc: ChatService;
  readonly routing: RoutingService;
  readonly auth: Authenticator;
  /** Cluster mode only: this node's share of the actors. */
  readonly cluster: ClusterNode | null;
  shutdown(): Promise<void>;
  /** Dies at once, as a killed process would (tests): no hand-over, no snapshots. */
  kill(): Promise<void>;
}

export interface StartOptions {
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly env?: { get(key: string): string | undefined };
  /** Runs as a cluster node on this broker (tests pass a MemoryBroker); else KAFKA_BROKERS. */
  readonly broker?: Broker;
  /** A KV handle to use instead of opening KV_PATH (nodes in one process share one); not closed. */
  readonly kv?: Deno.Kv;
  /**
   * Cluster mode: a Kafka consumer stopped for good, so the node cannot do its part. Default:
   * exit with status 70 for the supervisor (compose `restart: unless-stopped`) to restart it;
   * the group moves its partitions meanwhile, as for a node that died.
   */
  readonly onFatal?: (error: Error) => void;
  /** The clock of the edge's network timeouts (default: real time; tests may drive it). */
  readonly edgeClock?: Clock;
}

/**
 * Requests that reach the app through the edge's unix socket have `http+unix://host/…` URLs: the
 * app sees `http://host/…` (the Host header the client sent). An upgrade keeps its own request,
 * which Deno's `upgradeWebSocket` needs.
 */
function asHttp(req: Request): Request {
  if (!req.url.startsWith("http+unix:") || req.headers.has("upgrade")) return req;
  return new Request(`http:${req.url.slice("http+unix:".length)}`, req);
}

/** Routes that bound their bodies themselves: uploads (`file_too_large`) and SSE sends. */
function capsItsOwnBody(method: string, path: string): boolean {
  return method === "POST" &&
    (/^\/api\/v1\/chat\/chats\/[^/]+\/attachments$/.test(path) || path === "/api/v1/chat/sse/send");
}

/** Exit status of a node whose Kafka consumer stopped for good (EX_SOFTWARE). */
export const EXIT_CLUSTER_FATAL = 70;

/** The kafkajs broker when KAFKA_BROKERS is set (loaded only then). */
async function kafkaBroker(config: Config, log: Logger): Promise<Broker | null> {
  const brokers = config.KAFKA_BROKERS.split(",").map((b) => b.trim()).filter(Boolean);
  if (brokers.length === 0) return null;
  const { KafkaBroker } = await import("../cluster/kafka_broker.ts");
  return new KafkaBroker({
    brokers,
    clientId: `chat-engine-${config.NODE_NAME ?? Deno.hostname()}`,
    topics: clusterTopics(config.COMMAND_PARTITIONS),
    logger: log,
    sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
    heartbeatIntervalMs: config.KAFKA_HEARTBEAT_MS,
    maxWaitTimeMs: config.KAFKA_MAX_WAIT_MS,
  });
}

export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const log = opts.logger ?? createLogger(config.LOG_LEVEL);
  const clock = opts.clock ?? new SystemClock();
  const { auth, identity } = setUpAuth(config, opts.env ?? Deno.env, clock, log);
  const remoteKv = /^https?:\/\//.test(config.KV_PATH);
  if (config.KV_PATH !== ":memory:" && !remoteKv) {
    await Deno.mkdir(dirname(config.KV_PATH), { recursive: true });
  }
  const kv = opts.kv ?? await Deno.openKv(config.KV_PATH);
  const closeKv = () => opts.kv || kv.close();

  const bootId = crypto.randomUUID();
  const broker = opts.broker ?? await kafkaBroker(config, log);
  const nodeName = config.NODE_NAME ?? Deno.hostname();
  const node = broker
    ? new ClusterNode({
      broker,
      kv,
      clock,
      log,
      nodeId: bootId,
      name: nodeName,
      url: config.PUBLIC_URL ?? `http://${nodeName}:${config.PORT}`,
      askTimeoutMs: config.ASK_TIMEOUT_MS,
      heartbeatMs: config.NODE_HEARTBEAT_S * 1000,
      auditFeedMs: config.AUDIT_FEED_MS,
      onFatal: opts.onFatal ?? (() => {
        log.error("exiting: the node restarts and rejoins the cluster", {
          status: EXIT_CLUSTER_FATAL,
        });
        Deno.exit(EXIT_CLUSTER_FATAL);
      }),
    })
    : null;
  let svc: ChatService | null = null;
  const system = new ActorSystem({
    ...(node ? { fence: node.fence, forward: node.forward, onFenced: node.onFenced } : {}),
    kv,
    clock,
    logger: log,
    entities: [sessionEntity, queueEntity, operatorEntity, clientEntity, chatStaffEntity],
    mailboxCapacity: config.MAILBOX_CAPACITY,
    snapshotEvery: config.SNAPSHOT_EVERY,
    passivateAfterMs: config.PASSIVATE_AFTER_S * 1000,
    askTimeoutMs: config.ASK_TIMEOUT_MS,
    kvLockWaitMs: config.KV_LOCK_WAIT_MS,
    onEffect: (effect) => {
      if (effect.name === "typing" && svc) {
        const data = effect.data as Parameters<ChatService["typingFrame"]>[0];
        svc.emit(
          [{ op: "broadcast", chatId: data.chatId, frame: svc.typingFrame(data) }],
          data.chatId,
        );
      }
    },
  });
  const hub = new Hub((chatId, after, limit, wanted) =>
    svc!.readFrames(chatId, after, limit, undefined, wanted)
  );
  svc = new ChatService({
    system,
    ...(node
      ? { router: node, fanout: node.fanout, bootView: () => ({ dead: node.registry.dead }) }
      : {}),
    hub,
    queue: config.DEFAULT_QUEUE,
    maxTextLength: config.MAX_TEXT_LENGTH,
    queueView: {
      headSize: config.QUEUE_HEAD_SIZE,
      intervalMs: config.QUEUE_VIEW_MS,
      positionIntervalMs: config.QUEUE_POSITION_MS,
    },
    bootId,
  });
  if (node) {
    await node.start({
      system,
      queue: config.DEFAULT_QUEUE,
      applyOps: (ops) => svc!.applyOps(ops),
    });
  }
  // Also recovers the queue at start-up, which starts the grace period of everyone it
  // believed connected before the restart.
  await svc.configureQueue({
    mode: config.ROUTING_MODE,
    defaultCapacity: config.DEFAULT_CAPACITY,
    acceptTimeoutMs: config.ACCEPT_TIMEOUT_S * 1000,
    graceMs: config.PRESENCE_GRACE_S * 1000,
  });
  // Commands the actors owed each other when the last process stopped (a crash can cut one off
  // between its commit and its delivery) are sent now. A cluster node does this for the
  // partitions it is assigned, as it is assigned them.
  if (!node) await system.redeliverOwed();

  let closing = false;
  let integrations: Awaited<ReturnType<typeof startIntegrations>> = [];
  const metrics = new EngineMetrics({
    system,
    svc,
    clock,
    cluster: node,
    integrations: () => integrations,
    kafkaLag: () => {
      const owners = node?.consumers.owners;
      const held = new Set(owners?.assignment.map((tp) => tp.partition));
      return [...owners?.lag ?? []].filter(([partition]) => held.has(partition));
    },
  });
  const routing = new RoutingService(svc, config.DEFAULT_QUEUE);
  integrations = await startIntegrations({
    config,
    svc,
    routing,
    auth,
    kv,
    kvGiven: opts.kv !== undefined,
    log,
    clock,
    env: opts.env ?? Deno.env,
  });
  const now = () => clock.now();
  const deps: RouteDeps = {
    config,
    auth,
    svc,
    routing,
    visitors: new Visitors(svc, auth, identity),
    creations: new AddressLimits({
      perAddressPerMin: config.CREATE_RATE_PER_ADDRESS,
      globalPerMin: config.CREATE_RATE_GLOBAL,
      now,
    }),
    handlerOptions: {
      routing,
      auth,
      limits: new UserLimits({
        maxConnections: config.MAX_CONNECTIONS_PER_TOKEN,
        messagesPerMin: config.RATE_LIMIT_PER_MIN,
        framesPerMin: config.RATE_LIMIT_PER_MIN * 10,
        now,
      }),
      maxFrameBytes: config.MAX_FRAME_BYTES,
      heartbeatMs: config.HEARTBEAT_S * 1000,
      tokenWarningMs: config.TOKEN_WARNING_S * 1000,
      clock,
      now,
      log,
      metrics,
    },
    log,
    ready: async () => {
      if (closing || node?.failed) return false;
      await kv.get(["a", "ready-probe"]);
      await svc!.queueLive.reads.stats();
      return true;
    },
    cluster: node,
    kv,
    integrations,
    metrics,
  };
  const app = new Hono();
  installErrorHandling(app, log);
  app.use("*", requestIds(), httpMetrics(metrics));
  app.use("*", bodyLimits(config.MAX_BODY_BYTES, capsItsOwnBody));
  app.route("/", healthRoutes(deps));
  app.route("/", apiRoutes(deps));
  app.route("/api/v1/chat", chatWsRoutes(deps));
  app.route("/", webRoutes({ imageOrigins: attachmentOrigins(config) }));

  // socket.io (polling and its WebSocket upgrade) on the same port, routed before Hono.
  const sio = attachSocketIo(deps);
  const handler = (req: Request, info: { remoteAddr: Deno.Addr }) => {
    const r = asHttp(req);
    return sio.owns(r) ? sio.fetch(r, info) : app.fetch(r, info);
  };
  // The app listens on a private unix socket; the edge owns the public port and every TCP
  // connection (timeouts, caps, our WebSocket), passing all other HTTP on (edge/edge.ts).
  const socketDir = await Deno.makeTempDir({ prefix: "chat-edge-" });
  await Deno.chmod(socketDir, 0o700);
  const upstreamPath = `${socketDir}/app.sock`;
  const ac = new AbortController();
  const { promise: upstreamReady, resolve: upstreamUp } = Promise.withResolvers<void>();
  const httpServer = Deno.serve({
    path: upstreamPath,
    signal: ac.signal,
    onListen: () => upstreamUp(),
  }, handler);
  await upstreamReady;
  const edge = await startEdge({
    hostname: config.HOST,
    port: config.PORT,
    upstreamPath,
    handler,
    headersTimeoutMs: config.HEADERS_TIMEOUT_S * 1000,
    bodyIdleTimeoutMs: config.BODY_TIMEOUT_S * 1000,
    idleTimeoutMs: config.KEEPALIVE_TIMEOUT_S * 1000,
    maxConnections: config.MAX_CONNECTIONS,
    maxConnectionsPerAddress: config.MAX_CONNECTIONS_PER_ADDRESS,
    trustedProxyHops: config.TRUSTED_PROXY_HOPS,
    // Network timeouts (and WebSocket reaping) run on real time, like a peer's; the edge's own
    // tests drive them by hand through this option.
    clock: opts.edgeClock ?? new SystemClock(),
    log,
  });
  const addr = edge.addr;
  const host = addr.hostname === "0.0.0.0" ? "127.0.0.1" : addr.hostname;
  log.info("listening", { url: `http://${host}:${addr.port}`, kv: config.KV_PATH, boot: bootId });
  /** Stops serving; a clean shutdown lets the last frames (close codes) out first. */
  const stopHttp = async (graceMs: number) => {
    sio.close();
    await edge.close(graceMs);
    ac.abort();
    await httpServer.finished.catch(() => {});
    await Deno.remove(socketDir, { recursive: true }).catch(() => {});
  };

  return {
    port: addr.port,
    url: `http://${host}:${addr.port}`,
    svc,
    routing,
    auth,
    cluster: node,
    async shutdown() {
      if (closing) return;
      closing = true;
      hub.closeAll(CLOSE.goingAway, "server_shutdown");
      await stopHttp(1000);
      await stopIntegrations(integrations);
      // A cluster node hands its partitions over (clean snapshots) before it stops.
      await node?.stop();
      await system.shutdown();
      svc!.stop();
      if (broker && !opts.broker) await broker.close();
      metrics.close();
      closeKv();
      log.info("stopped");
      // Writes what the repeat windows still hold (a logger the caller gave is the caller's).
      if (!opts.logger) log.close();
    },
    async kill() {
      if (closing) return;
      closing = true;
      node?.kill();
      void stopIntegrations(integrations);
      system.halt();
      svc!.stop();
      hub.closeAll(CLOSE.goingAway, "killed");
      await stopHttp(0);
      await system.committer.flushed();
      metrics.close();
      closeKv();
    },
  };
}
