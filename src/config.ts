/** Every setting comes from the environment; each has a default that runs a single dev node. */
import { z } from "zod";

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);

export const ConfigSchema = z.object({
  PORT: int(8080),
  HOST: z.string().default("0.0.0.0"),
  KV_PATH: z.string().default("data/chat.kv"),
  JWT_SECRET: z.string().optional(),
  CLIENT_TOKEN_TTL_S: int(86_400, 60),
  MAILBOX_CAPACITY: int(1000, 1),
  SNAPSHOT_EVERY: int(500, 1),
  PASSIVATE_AFTER_S: int(300),
  ASK_TIMEOUT_MS: int(5000, 1),
  MAX_TEXT_LENGTH: int(4000, 1),
  MAX_FRAME_BYTES: int(65_536, 1024),
  RATE_LIMIT_PER_MIN: int(60, 1),
  HEARTBEAT_S: int(30, 1),
  MAX_CONNECTIONS_PER_TOKEN: int(10, 1),
  SEND_QUEUE_MAX_BYTES: int(4 * 1024 * 1024, 1024),
  HISTORY_PAGE_MAX: int(500, 1),
  DEFAULT_QUEUE: z.string().min(1).default("default"),
  ROUTING_MODE: z.enum(["manual", "auto"]).default("manual"),
  DEFAULT_CAPACITY: int(5, 0),
  ACCEPT_TIMEOUT_S: int(30, 1),
  PRESENCE_GRACE_S: int(30, 0),
  PUBLIC_URL: z.string().optional(),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  KAFKA_BROKERS: z.string().default(""),
  NODE_NAME: z.string().min(1).optional(),
  COMMAND_PARTITIONS: int(12, 1),
  NODE_HEARTBEAT_S: int(5, 1),
  KAFKA_SESSION_TIMEOUT_MS: int(10_000, 1000),
  KAFKA_HEARTBEAT_MS: int(1000, 100),
  KAFKA_MAX_WAIT_MS: int(100, 1),
  // ---- integrations (issue 6): each adds its variables above this line ----
});

export type Config = z.infer<typeof ConfigSchema>;

/** Documentation of each variable, printed by README and `--help`. */
export const CONFIG_DOCS: Record<keyof Config, string> = {
  PORT: "HTTP port for REST and WebSocket; 0 picks a free port",
  HOST: "Interface to listen on",
  KV_PATH:
    "Deno KV file (created with its folder), :memory:, or a KV Connect URL (http://denokv:4512; token in DENO_KV_ACCESS_TOKEN)",
  JWT_SECRET: "HS256 secret for staff JWTs and client tokens (>= 32 chars); unset = dev default",
  CLIENT_TOKEN_TTL_S: "Lifetime of a client token in seconds",
  MAILBOX_CAPACITY: "Messages an actor's mailbox holds before senders get `overloaded`",
  SNAPSHOT_EVERY: "Snapshot an actor every N events",
  PASSIVATE_AFTER_S:
    "Idle seconds before an actor is snapshotted and dropped from memory (0 = never)",
  ASK_TIMEOUT_MS: "How long a request waits for an actor's reply",
  MAX_TEXT_LENGTH: "Longest message text in characters",
  MAX_FRAME_BYTES: "Largest WebSocket frame; a larger one closes the socket with 1009",
  RATE_LIMIT_PER_MIN: "Chat messages per connection per minute (other frames: 10x)",
  HEARTBEAT_S: "Seconds between heartbeats; a WebSocket silent for this long is pinged and reaped",
  MAX_CONNECTIONS_PER_TOKEN: "Open connections one token may hold; the next is closed with 4002",
  SEND_QUEUE_MAX_BYTES: "Bytes queued for one slow connection before it is closed with 4001",
  HISTORY_PAGE_MAX: "Largest page of the history endpoint",
  DEFAULT_QUEUE: "Name of the queue new chats join",
  ROUTING_MODE: "manual (operators pick from the queue) or auto (offers to the least loaded)",
  DEFAULT_CAPACITY: "Open chats an operator may hold, unless an admin sets their own capacity",
  ACCEPT_TIMEOUT_S: "Auto routing: seconds an operator has to accept an offered chat",
  PRESENCE_GRACE_S: "Seconds a disconnected operator keeps their chats before they are requeued",
  PUBLIC_URL: "Base URL clients use (for ws_url in responses); default from the request",
  LOG_LEVEL: "debug | info | warn | error",
  KAFKA_BROKERS:
    "Cluster mode: Kafka bootstrap servers (host:port,...); empty = single node, no Kafka",
  NODE_NAME: "Cluster mode: this node's name in logs and ops (default: the host name)",
  COMMAND_PARTITIONS:
    "Cluster mode: partitions of chat.commands and chat.events; must match the created topics",
  NODE_HEARTBEAT_S:
    "Cluster mode: seconds between node heartbeats in KV (a node is dead after 3 missed)",
  KAFKA_SESSION_TIMEOUT_MS:
    "Cluster mode: a node silent this long leaves the consumer group and its partitions move",
  KAFKA_HEARTBEAT_MS: "Cluster mode: consumer-group heartbeat interval",
  KAFKA_MAX_WAIT_MS: "Cluster mode: longest a fetch waits on an idle partition (latency floor)",
  // ---- integrations (issue 6): each documents its variables above this line ----
};

export function loadConfig(env: Record<string, string | undefined>): Config {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(ConfigSchema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== "") picked[key] = v;
  }
  const parsed = ConfigSchema.safeParse(picked);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid configuration: ${issues.join("; ")}`);
  }
  return parsed.data;
}
