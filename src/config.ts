/** Every setting comes from the environment; each has a default that runs a single dev node. */
import { z } from "zod";

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);

export const ConfigSchema = z.object({
  PORT: int(8080),
  HOST: z.string().default("0.0.0.0"),
  KV_PATH: z.string().default("data/chat.kv"),
  JWT_SECRET: z.string().optional(),
  CLIENT_TOKEN_TTL_S: int(86_400, 60),
  VISITOR_TOKEN_TTL_S: int(30 * 86_400, 60),
  IDENTITY_SECRET: z.string().optional(),
  TOKEN_WARNING_S: int(60, 1),
  JWT_JWKS_URL: z.url().optional(),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  JWT_ALGORITHMS: z.string().default("RS256,ES256"),
  JWT_ROLE_CLAIM: z.string().min(1).default("role"),
  JWT_ROLE_MAP: z.string().default(""),
  JWT_NAME_CLAIM: z.string().min(1).default("name"),
  STAFF_HS256: z.enum(["auto", "on", "off"]).default("auto"),
  MAILBOX_CAPACITY: int(1000, 1),
  SNAPSHOT_EVERY: int(500, 1),
  PASSIVATE_AFTER_S: int(300),
  ASK_TIMEOUT_MS: int(5000, 1),
  KV_LOCK_WAIT_MS: int(4000, 0),
  MAX_TEXT_LENGTH: int(4000, 1),
  MAX_FRAME_BYTES: int(65_536, 1024),
  RATE_LIMIT_PER_MIN: int(60, 1),
  HEARTBEAT_S: int(30, 1),
  MAX_CONNECTIONS_PER_TOKEN: int(10, 1),
  SEND_QUEUE_MAX_BYTES: int(4 * 1024 * 1024, 1024),
  HISTORY_PAGE_MAX: int(500, 1),
  MAX_BODY_BYTES: int(65_536, 1024),
  CREATE_RATE_PER_ADDRESS: int(20, 1),
  CREATE_RATE_GLOBAL: int(3000, 1),
  TRUSTED_PROXY_HOPS: int(0, 0),
  HEADERS_TIMEOUT_S: int(10, 1),
  BODY_TIMEOUT_S: int(30, 1),
  KEEPALIVE_TIMEOUT_S: int(75, 1),
  MAX_CONNECTIONS: int(9_000, 1),
  MAX_CONNECTIONS_PER_ADDRESS: int(256, 1),
  DEFAULT_QUEUE: z.string().min(1).default("default"),
  ROUTING_MODE: z.enum(["manual", "auto"]).default("manual"),
  DEFAULT_CAPACITY: int(5, 0),
  ACCEPT_TIMEOUT_S: int(30, 1),
  PRESENCE_GRACE_S: int(30, 0),
  OFFLINE_REPLY_PROMISE_H: int(24, 1),
  QUEUE_VIEW_MS: int(250, 1),
  QUEUE_HEAD_SIZE: int(20, 1),
  QUEUE_POSITION_MS: int(1000, 1),
  PUBLIC_URL: z.string().optional(),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  METRICS_TOKEN: z.string().min(16).optional(),
  KAFKA_BROKERS: z.string().default(""),
  NODE_NAME: z.string().min(1).optional(),
  COMMAND_PARTITIONS: int(12, 1),
  NODE_HEARTBEAT_S: int(5, 1),
  KAFKA_SESSION_TIMEOUT_MS: int(10_000, 1000),
  KAFKA_HEARTBEAT_MS: int(1000, 100),
  KAFKA_MAX_WAIT_MS: int(100, 1),
  AUDIT_FEED_MS: int(1000, 10),
  // data lifecycle (src/ops/, docs/OPERATIONS.md)
  RETENTION_DAYS: int(0, 0),
  RETENTION_SWEEP_S: int(600, 1),
  RETENTION_BATCH: int(100, 1),
  // attachments (src/integrations/attachments)
  ATTACHMENT_STORE: z.enum(["local", "s3", "off"]).default("local"),
  ATTACHMENTS_DIR: z.string().min(1).default("data/attachments"),
  ATTACHMENT_MAX_BYTES: int(10 * 1024 * 1024, 1),
  ATTACHMENT_MIME_ALLOW: z.string().default(
    "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain," +
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document," +
      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet," +
      "application/vnd.oasis.opendocument.text",
  ),
  ATTACHMENT_MAX_UNZIPPED_BYTES: int(100 * 1024 * 1024, 1),
  ATTACHMENT_URL_TTL_S: int(300, 1),
  ATTACHMENT_ORPHAN_TTL_S: int(86_400),
  S3_ENDPOINT: z.string().url().optional(),
  S3_BUCKET: z.string().min(1).optional(),
  S3_REGION: z.string().min(1).default("us-east-1"),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_FORCE_PATH_STYLE: z.enum(["true", "false", "1", "0"]).default("true")
    .transform((v) => v === "true" || v === "1"),
  S3_TIMEOUT_MS: int(15_000, 1),
  S3_MAX_RETRIES: int(3, 0),
  // webhooks (src/integrations/webhooks/)
  WEBHOOKS: z.enum(["on", "off"]).default("on"),
  WEBHOOK_MAX_ATTEMPTS: int(6, 1),
  WEBHOOK_BACKOFF_MS: int(30_000, 1),
  WEBHOOK_BACKOFF_MAX_MS: int(3_600_000, 1),
  WEBHOOK_TIMEOUT_MS: int(10_000, 1),
  WEBHOOK_CONCURRENCY: int(8, 1),
  WEBHOOK_MAX_PENDING: int(10_000, 1),
  WEBHOOK_DEAD_LETTER_TTL_H: int(168, 1),
  // bot and chat titles (src/integrations/bot, src/integrations/titles)
  BOT_MODE: z.enum(["off", "waiting", "all"]).default("waiting"),
  BOT_KNOWLEDGE_FILE: z.string().min(1).default("config/knowledge.json"),
  BOT_MIN_CONFIDENCE: z.coerce.number().min(0).max(1).default(0.4),
  BOT_ESCALATE_KEYWORDS: z.string().default(""),
  BOT_LLM_URL: z.url().optional(),
  BOT_LLM_API_KEY: z.string().optional(),
  BOT_LLM_MODEL: z.string().min(1).default("gpt-4o-mini"),
  BOT_LLM_TIMEOUT_MS: int(8000, 1),
  BOT_LLM_CONCURRENCY: int(4, 1),
  TITLE_MODE: z.enum(["off", "extractive", "llm"]).default("extractive"),
  TITLE_LLM_URL: z.url().optional(),
  TITLE_LLM_API_KEY: z.string().optional(),
  TITLE_LLM_MODEL: z.string().min(1).optional(),
  // operator hints (src/integrations/hints/)
  HINTS: z.enum(["on", "off"]).default("on"),
  HINTS_HISTORY_MAX: int(5000, 0),
  // search (src/integrations/search)
  SEARCH: z.enum(["on", "off"]).default("on"),
  SEARCH_SCAN_MAX: int(20_000, 100),
  SEARCH_KV_PATH: z.string().default(""),
  SEARCH_REFRESH_MS: int(1000, 0),
  // Telegram channel (src/integrations/telegram/)
  TELEGRAM_BOT_TOKEN: z.string().default(""),
  TELEGRAM_API_URL: z.url().default("https://api.telegram.org"),
  TELEGRAM_MODE: z.enum(["polling", "webhook"]).default("polling"),
  TELEGRAM_WEBHOOK_SECRET: z.string().regex(/^[A-Za-z0-9_-]{0,256}$/, {
    error: "only A-Z, a-z, 0-9, _ and -, at most 256 characters (Telegram's rule)",
  }).default(""),
  TELEGRAM_WEBHOOK_URL: z.union([z.url(), z.literal("")]).default(""),
  TELEGRAM_POLL_TIMEOUT_S: z.coerce.number().int().min(0).max(50).default(25),
  TELEGRAM_HTTP_TIMEOUT_MS: int(10_000, 100),
  TELEGRAM_RETRY_BASE_MS: int(1000, 1),
  TELEGRAM_MAX_ATTEMPTS: int(8, 1),
  TELEGRAM_LEASE_S: int(90, 1),
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
  CLIENT_TOKEN_TTL_S: "Lifetime of a chat (client) token in seconds",
  VISITOR_TOKEN_TTL_S:
    "Lifetime of a visitor token (a visitor's proof of identity: lists and starts their chats)",
  IDENTITY_SECRET:
    "Site secret(s) for identity verification (user_hash HMAC, identity_token HS256), comma-separated while rotating, each >= 32 chars; unset = off",
  TOKEN_WARNING_S:
    "Seconds before a connection's token expires that it is told `token_expiring` (then closed with 4003 unless refreshed)",
  JWT_JWKS_URL:
    "Staff tokens from an identity provider: its JWKS URL (RS256/ES256); set it with JWT_ISSUER and JWT_AUDIENCE",
  JWT_ISSUER: "Identity provider: the `iss` staff tokens must carry",
  JWT_AUDIENCE:
    "Identity provider: an `aud` staff tokens must carry (comma-separated: any of them)",
  JWT_ALGORITHMS: "Identity provider: accepted signature algorithms (comma-separated)",
  JWT_ROLE_CLAIM:
    "Identity provider: claim (or dotted path, e.g. realm_access.roles) holding the staff role(s)",
  JWT_ROLE_MAP:
    "Identity provider: its role names to ours, `idp-role:operator,idp-admins:admin`; unmapped names are taken as they are",
  JWT_NAME_CLAIM: "Identity provider: claim holding the display name",
  STAFF_HS256:
    "HS256 staff tokens under JWT_SECRET: auto (accepted unless JWT_JWKS_URL is set), on or off",
  MAILBOX_CAPACITY: "Messages an actor's mailbox holds before senders get `overloaded`",
  SNAPSHOT_EVERY: "Snapshot an actor every N events",
  PASSIVATE_AFTER_S:
    "Idle seconds before an actor is snapshotted and dropped from memory (0 = never)",
  ASK_TIMEOUT_MS: "How long a request waits for an actor's reply",
  KV_LOCK_WAIT_MS:
    "How long a write waits while another process holds the KV file's lock (nodes sharing one file) before it fails",
  MAX_TEXT_LENGTH: "Longest message text in characters",
  MAX_FRAME_BYTES: "Largest WebSocket frame; a larger one closes the socket with 1009",
  RATE_LIMIT_PER_MIN:
    "Chat messages per user per minute, over all their connections (every frame counts against 10x this)",
  HEARTBEAT_S: "Seconds between heartbeats; a WebSocket silent for this long is pinged and reaped",
  MAX_CONNECTIONS_PER_TOKEN:
    "Open connections of one user (all tokens of the same client or staff member); the next is closed with 4002",
  SEND_QUEUE_MAX_BYTES: "Bytes queued for one slow connection before it is closed with 4001",
  HISTORY_PAGE_MAX: "Largest page of the history endpoint",
  MAX_BODY_BYTES: "Largest REST request body (uploads: ATTACHMENT_MAX_BYTES); larger → 413",
  CREATE_RATE_PER_ADDRESS:
    "New chats and visitors per client address per minute (burst of the same size); more → 429",
  CREATE_RATE_GLOBAL: "New chats and visitors per minute from all addresses together; more → 429",
  TRUSTED_PROXY_HOPS:
    "Reverse proxies in front of the engine: the client address is taken that many hops from the right of X-Forwarded-For (0 = the TCP peer)",
  HEADERS_TIMEOUT_S:
    "Seconds a request head may take to arrive; then 408 and the connection closes",
  BODY_TIMEOUT_S: "Seconds an unfinished request body may go without a byte; then it is closed",
  KEEPALIVE_TIMEOUT_S: "Seconds an idle HTTP connection (nothing either way) is kept open",
  MAX_CONNECTIONS:
    "Open TCP connections in all; more are refused. A proxied HTTP connection holds 2 files, a WebSocket 1: keep it under half the process's open-file limit",
  MAX_CONNECTIONS_PER_ADDRESS: "Open TCP connections per client address; more → 503",
  DEFAULT_QUEUE: "Name of the queue new chats join",
  ROUTING_MODE: "manual (operators pick from the queue) or auto (offers to the least loaded)",
  DEFAULT_CAPACITY: "Open chats an operator may hold, unless an admin sets their own capacity",
  ACCEPT_TIMEOUT_S: "Auto routing: seconds an operator has to accept an offered chat",
  PRESENCE_GRACE_S: "Seconds a disconnected operator keeps their chats before they are requeued",
  OFFLINE_REPLY_PROMISE_H:
    "Hours within which offline messages are answered (the widget shows it when nobody is online)",
  QUEUE_VIEW_MS:
    "Staff queue views: changes are sent at most once per this many ms (one queue_delta, or a few legacy frames)",
  QUEUE_HEAD_SIZE: "Staff queue views: the waiting chats listed (the head of the queue)",
  QUEUE_POSITION_MS: "Waiting clients: queue_position frames at most once per this many ms",
  PUBLIC_URL: "Base URL clients use (for ws_url in responses); default from the request",
  LOG_LEVEL: "debug | info | warn | error",
  METRICS_TOKEN: "Bearer token /metrics requires (>= 16 chars); unset = /metrics is open",
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
  AUDIT_FEED_MS: "Cluster mode: how often new audit records are published on chat.audit",
  RETENTION_DAYS:
    "Chats closed longer ago than this many days are deleted with their files (0 = keep forever)",
  RETENTION_SWEEP_S: "Retention: seconds between sweeps (one node: the owner of partition 0)",
  RETENTION_BATCH: "Retention: most chats one sweep deletes (it looks at 10× as many)",
  ATTACHMENT_STORE: "Where uploaded files go: local (disk), s3 (S3-compatible, e.g. MinIO) or off",
  ATTACHMENTS_DIR: "Attachments with ATTACHMENT_STORE=local: the folder (created) for the files",
  ATTACHMENT_MAX_BYTES: "Largest uploaded file in bytes; larger → 413 `file_too_large`",
  ATTACHMENT_MIME_ALLOW:
    "Comma-separated MIME types clients and staff may upload (the content must be of that type)",
  ATTACHMENT_MAX_UNZIPPED_BYTES:
    "Largest total a ZIP-based upload (DOCX, XLSX, ODT, ZIP) declares for its entries; more → 400 `invalid_payload`",
  ATTACHMENT_URL_TTL_S: "Seconds a signed download URL stays valid",
  ATTACHMENT_ORPHAN_TTL_S:
    "Seconds an upload never attached to a message is kept before it is deleted (0 = keep)",
  S3_ENDPOINT:
    "ATTACHMENT_STORE=s3: endpoint URL (e.g. http://minio:9000); unset = AWS S3 of S3_REGION",
  S3_BUCKET: "ATTACHMENT_STORE=s3: the bucket (must exist)",
  S3_REGION: "ATTACHMENT_STORE=s3: the region used in SigV4 signatures",
  S3_ACCESS_KEY_ID:
    "ATTACHMENT_STORE=s3: access key id (secret; from the environment, never logged)",
  S3_SECRET_ACCESS_KEY: "ATTACHMENT_STORE=s3: secret access key (never logged)",
  S3_FORCE_PATH_STYLE:
    "ATTACHMENT_STORE=s3: true = endpoint/bucket/key URLs (MinIO); false = bucket.endpoint/key",
  S3_TIMEOUT_MS: "ATTACHMENT_STORE=s3: longest one storage request may take before it is retried",
  S3_MAX_RETRIES:
    "ATTACHMENT_STORE=s3: retries of a failed storage request (500, 503, 429, timeout)",
  WEBHOOKS: "on | off: outbound webhooks to URLs admins register (none registered = no calls)",
  WEBHOOK_MAX_ATTEMPTS: "Webhooks: tries per delivery before it becomes a dead letter",
  WEBHOOK_BACKOFF_MS:
    "Webhooks: first retry delay; doubles per try (with jitter: 50-100 % of it), capped",
  WEBHOOK_BACKOFF_MAX_MS: "Webhooks: longest delay between two tries (also caps Retry-After)",
  WEBHOOK_TIMEOUT_MS: "Webhooks: how long one delivery waits for the receiver's answer",
  WEBHOOK_CONCURRENCY: "Webhooks: deliveries in flight at once on this node",
  WEBHOOK_MAX_PENDING:
    "Webhooks: deliveries waiting in the KV outbox; past it new ones become dead letters",
  WEBHOOK_DEAD_LETTER_TTL_H: "Webhooks: hours a dead letter is kept for admins to see and replay",
  BOT_MODE:
    "Bot: off, waiting (answers queued chats while no operator is free) or all (every new web chat starts with the bot until it escalates)",
  BOT_KNOWLEDGE_FILE:
    "Bot: knowledge file of intents (JSON or YAML, by extension); checked at start",
  BOT_MIN_CONFIDENCE:
    "Bot: answers below this confidence (0-1) count as not understood; twice in a row escalates",
  BOT_ESCALATE_KEYWORDS:
    "Bot: comma-separated words or phrases that hand the chat to a human at once",
  BOT_LLM_URL:
    "Bot: base URL of an OpenAI-compatible API (POST {url}/chat/completions); unset = offline matcher only",
  BOT_LLM_API_KEY: "Bot: API key sent as a Bearer token to BOT_LLM_URL (never logged)",
  BOT_LLM_MODEL: "Bot: model name sent to BOT_LLM_URL",
  BOT_LLM_TIMEOUT_MS:
    "Bot and titles: longest wait for the LLM before falling back to the offline answer",
  BOT_LLM_CONCURRENCY:
    "Bot and titles: LLM requests in flight at once (each a bounded queue of 100 more)",
  TITLE_MODE: "Chat titles: off, extractive (offline, from the first client messages) or llm",
  TITLE_LLM_URL:
    "Chat titles: OpenAI-compatible base URL for TITLE_MODE=llm (default: BOT_LLM_URL)",
  TITLE_LLM_API_KEY:
    "Chat titles: API key for TITLE_LLM_URL (default: BOT_LLM_API_KEY; never logged)",
  TITLE_LLM_MODEL: "Chat titles: model for TITLE_MODE=llm (default: BOT_LLM_MODEL)",
  HINTS: "on | off: suggested replies for staff (canned responses, bot knowledge, past answers)",
  HINTS_HISTORY_MAX:
    "Hints: past (question → answer) pairs kept from closed chats; oldest evicted (0 = none)",
  SEARCH: "on | off: staff search over all conversations (an index in KV, kept by every node)",
  SEARCH_SCAN_MAX:
    "Search: postings read per query word at most (newest chats first); caps a query's work",
  SEARCH_KV_PATH:
    "Search: the index's KV file (default: beside KV_PATH, chat.kv → chat.search.kv; rebuilt from the chats when missing); shared = in the chats' KV",
  SEARCH_REFRESH_MS:
    "Search: under steady traffic new messages are written into the index at most this often (ms): fewer, larger index commits; a message after a quiet spell goes at once",
  TELEGRAM_BOT_TOKEN: "Telegram: the bot's token from @BotFather (secret); empty = Telegram off",
  TELEGRAM_API_URL: "Telegram: Bot API base URL (tests point it at a local fake)",
  TELEGRAM_MODE:
    "Telegram: polling (getUpdates long polling, one node at a time) or webhook (Telegram POSTs updates)",
  TELEGRAM_WEBHOOK_SECRET:
    "Telegram webhook mode (required there): secret Telegram sends in X-Telegram-Bot-Api-Secret-Token",
  TELEGRAM_WEBHOOK_URL:
    "Telegram webhook mode: public URL of /api/v1/chat/telegram/webhook; set = registered with setWebhook at start",
  TELEGRAM_POLL_TIMEOUT_S: "Telegram polling: seconds one getUpdates long poll waits (0-50)",
  TELEGRAM_HTTP_TIMEOUT_MS:
    "Telegram: longest a Bot API call may take (getUpdates: on top of its poll timeout) before it is retried",
  TELEGRAM_RETRY_BASE_MS:
    "Telegram: first backoff after a failure (5xx, timeout); doubles per try up to 60 s. 429 waits retry_after",
  TELEGRAM_MAX_ATTEMPTS:
    "Telegram: tries to store an update or deliver a reply before it becomes a dead letter in KV",
  TELEGRAM_LEASE_S:
    "Telegram polling: seconds the poller lease lasts unrenewed; another node takes over after it (> poll timeout)",
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
