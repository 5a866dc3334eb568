/** Builds and starts a node: KV, actor system, hub, chat service, HTTP app. */
import { Hono } from "hono";
import { dirname } from "node:path";
import { clientEntity } from "../../actors/client.ts";
import { operatorEntity } from "../../actors/operator.ts";
import { queueEntity } from "../../actors/queue.ts";
import { sessionEntity } from "../../actors/session.ts";
import { chatWsRoutes } from "../../routes/chat_ws.ts";
import type { RouteDeps } from "../../routes/deps.ts";
import { healthRoutes } from "../../routes/health.ts";
import { apiRoutes } from "../../routes/openapi.ts";
import { webRoutes } from "../../routes/web.ts";
import { Authenticator, resolveSecret } from "../auth/mod.ts";
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
import { installErrorHandling } from "./http.ts";
import { Hub } from "./hub.ts";
import { attachSocketIo } from "./socketio.ts";

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
  const { secret, isDevDefault } = resolveSecret(opts.env ?? Deno.env);
  if (isDevDefault) {
    log.warn(
      "JWT_SECRET is not set: using the built-in DEVELOPMENT secret. Anyone can mint tokens. " +
        "Set JWT_SECRET (32+ chars) before real use.",
    );
  }
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
    entities: [sessionEntity, queueEntity, operatorEntity, clientEntity],
    mailboxCapacity: config.MAILBOX_CAPACITY,
    snapshotEvery: config.SNAPSHOT_EVERY,
    passivateAfterMs: config.PASSIVATE_AFTER_S * 1000,
    askTimeoutMs: config.ASK_TIMEOUT_MS,
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
  const hub = new Hub((chatId, after, limit) => svc!.readFrames(chatId, after, limit));
  svc = new ChatService({
    system,
    ...(node
      ? { router: node, fanout: node.fanout, bootView: () => ({ dead: node.registry.dead }) }
      : {}),
    hub,
    queue: config.DEFAULT_QUEUE,
    maxTextLength: config.MAX_TEXT_LENGTH,
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
  const auth = new Authenticator({
    secret,
    clientTokenTtlMs: config.CLIENT_TOKEN_TTL_S * 1000,
    clock,
  });

  let closing = false;
  const routing = new RoutingService(svc, config.DEFAULT_QUEUE);
  const integrations = await startIntegrations({
    config,
    svc,
    routing,
    auth,
    kv,
    log,
    clock,
    env: opts.env ?? Deno.env,
  });
  const deps: RouteDeps = {
    config,
    auth,
    svc,
    routing,
    handlerOptions: {
      routing,
      maxFrameBytes: config.MAX_FRAME_BYTES,
      rateLimitPerMin: config.RATE_LIMIT_PER_MIN,
      heartbeatMs: config.HEARTBEAT_S * 1000,
      maxConnectionsPerToken: config.MAX_CONNECTIONS_PER_TOKEN,
      clock,
      now: () => clock.now(),
      log,
    },
    log,
    ready: async () => {
      if (closing || node?.failed) return false;
      await kv.get(["a", "ready-probe"]);
      await svc!.queueSnapshot();
      return true;
    },
    cluster: node,
    kv,
    integrations,
  };
  const app = new Hono();
  installErrorHandling(app, log);
  app.route("/", healthRoutes(deps));
  app.route("/", apiRoutes(deps));
  app.route("/api/v1/chat", chatWsRoutes(deps));
  app.route("/", webRoutes({ imageOrigins: attachmentOrigins(config) }));

  // socket.io (polling and its WebSocket upgrade) on the same port, routed before Hono.
  const sio = attachSocketIo(deps);
  const ac = new AbortController();
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const httpServer = Deno.serve({
    port: config.PORT,
    hostname: config.HOST,
    signal: ac.signal,
    onListen: (addr) => resolve(addr as Deno.NetAddr),
  }, (req, info) => sio.owns(req) ? sio.fetch(req, info) : app.fetch(req, info));
  const addr = await listening;
  const host = addr.hostname === "0.0.0.0" ? "127.0.0.1" : addr.hostname;
  log.info("listening", { url: `http://${host}:${addr.port}`, kv: config.KV_PATH, boot: bootId });

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
      sio.close();
      ac.abort();
      await httpServer.finished.catch(() => {});
      await stopIntegrations(integrations);
      // A cluster node hands its partitions over (clean snapshots) before it stops.
      await node?.stop();
      await system.shutdown();
      if (broker && !opts.broker) await broker.close();
      closeKv();
      log.info("stopped");
    },
    async kill() {
      if (closing) return;
      closing = true;
      node?.kill();
      void stopIntegrations(integrations);
      system.halt();
      hub.closeAll(CLOSE.goingAway, "killed");
      sio.close();
      ac.abort();
      await httpServer.finished.catch(() => {});
      await system.committer.flushed();
      closeKv();
    },
  };
}
