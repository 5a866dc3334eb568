/**
 * The data lifecycle of a running node (issue 15): retention of closed chats, erasure of one
 * client, and the purge agent that carries both out on the node owning each actor. It starts as
 * the last integration (it reaches the others through their `…Of(svc)` accessors), so it stops
 * first. Backup and restore are offline tools (`backup.ts`, `deno task ops backup|restore`).
 * See docs/OPERATIONS.md.
 */
import { resolveSecret } from "../auth/mod.ts";
import type { KvCheck } from "../runtime/committer.ts";
import type { ActorAddress } from "../runtime/entity.ts";
import type { ChatService } from "../server/chat_service.ts";
import { partitionOf } from "../cluster/topics.ts";
import { hintsOf } from "../integrations/hints/mod.ts";
import { webhooksOf } from "../integrations/webhooks/mod.ts";
import { searchOf } from "../integrations/search/mod.ts";
import type { Integration, IntegrationContext } from "../integrations/mod.ts";
import { LocalStore } from "../integrations/attachments/local_store.ts";
import { S3Store } from "../integrations/attachments/s3_store.ts";
import { UrlSigner } from "../integrations/attachments/signing.ts";
import type { BlobStore } from "../integrations/attachments/store.ts";
import { hmacSha256 } from "../util/crypto.ts";
import { ClientEraser } from "./erase.ts";
import { PurgeAgent } from "./jobs.ts";
import { ChatPurger } from "./purge.ts";
import { RetentionSweeper } from "./retention.ts";

export interface Lifecycle extends Integration {
  readonly eraser: ClientEraser;
  readonly retention: RetentionSweeper;
  readonly agent: PurgeAgent;
}

/** How often each node's agent looks for purge records it owns. */
const AGENT_EVERY_MS = 2_000;
/** How long an erasure waits for other nodes' agents before answering `unavailable`. */
const ERASE_WAIT_MS = 30_000;

const running = new WeakMap<ChatService, Lifecycle>();

/** The lifecycle of a running server, by its chat service (the admin route, tests). */
export function lifecycleOf(svc: ChatService): Lifecycle | undefined {
  return running.get(svc);
}

interface ClusterView {
  readonly ownership: { owns(p: number): boolean; fence(p: number): KvCheck[] };
  readonly partitions: number;
}

/**
 * Which actors this node owns, and partition 0's fence: on one node every actor and `[]`; on a
 * cluster node (its router is the `ClusterNode`) what its partitions say.
 */
function placementOf(svc: ChatService) {
  const node = svc.router as Partial<ClusterView>;
  if (!node.ownership || !node.partitions) {
    return { owns: (_: ActorAddress) => true, fence0: (): KvCheck[] | null => [] };
  }
  const { ownership, partitions } = node as ClusterView;
  return {
    owns: (a: ActorAddress) => ownership.owns(partitionOf(a, partitions)),
    fence0: (): KvCheck[] | null => (ownership.owns(0) ? ownership.fence(0) : null),
  };
}

/**
 * The attachment store to delete bytes from, built like the attachments integration builds it
 * (that integration does not expose its own). With `ATTACHMENT_STORE=off` the local folder is
 * still cleaned: files from before may be there.
 */
async function blobStore(ctx: IntegrationContext): Promise<BlobStore | null> {
  const c = ctx.config;
  if (c.ATTACHMENT_STORE !== "s3") {
    return new LocalStore(
      c.ATTACHMENTS_DIR,
      await UrlSigner.fromSecret(resolveSecret(ctx.env).secret),
    );
  }
  if (!c.S3_BUCKET || !c.S3_ACCESS_KEY_ID || !c.S3_SECRET_ACCESS_KEY) return null;
  return new S3Store({
    endpoint: c.S3_ENDPOINT ?? `https://s3.${c.S3_REGION}.amazonaws.com`,
    bucket: c.S3_BUCKET,
    region: c.S3_REGION,
    accessKeyId: c.S3_ACCESS_KEY_ID,
    secretAccessKey: c.S3_SECRET_ACCESS_KEY,
    forcePathStyle: c.S3_FORCE_PATH_STYLE,
    retry: {
      timeoutMs: c.S3_TIMEOUT_MS,
      maxRetries: c.S3_MAX_RETRIES,
      backoffMs: 200,
      maxBackoffMs: 5000,
    },
    clock: ctx.clock,
    log: ctx.log,
  });
}

export async function startLifecycle(ctx: IntegrationContext): Promise<Lifecycle> {
  const { config, svc, kv, clock, log } = ctx;
  const placement = placementOf(svc);
  const announce = { gone: (_: number[]): Promise<void> => Promise.resolve() };
  const purger = new ChatPurger({
    kv,
    system: svc.system,
    router: svc.router,
    log,
    blobs: await blobStore(ctx),
    // Events this node stored are in its webhook outbox, harvested into hints and indexed for
    // search before the chat's keys go (else a delivery, a pair or a posting about it could
    // land after the purge).
    settle: async () => {
      await webhooksOf(svc)?.flushed();
      await hintsOf(svc)?.harvester.idle();
      await searchOf(svc)?.indexer.flushed();
    },
    hintsGone: (numbers) => announce.gone(numbers),
    forget: async (chatIds) => void await searchOf(svc)?.forget(chatIds),
  });
  const agent = new PurgeAgent({
    kv,
    clock,
    log,
    purger,
    owns: placement.owns,
    dropHints: (numbers) => {
      const index = hintsOf(svc)?.catalog.index;
      for (const n of numbers) index?.remove(`h:${n}`);
    },
    everyMs: AGENT_EVERY_MS,
  });
  announce.gone = (numbers) => agent.hintsGone(numbers);
  const retention = new RetentionSweeper({
    kv,
    clock,
    log,
    agent,
    days: config.RETENTION_DAYS,
    everyMs: config.RETENTION_SWEEP_S * 1000,
    batch: config.RETENTION_BATCH,
    fence: placement.fence0,
  });
  // The audit record of an erasure names its subject by a keyed hash (see erase.ts), under a
  // key of its own derived from JWT_SECRET.
  const subjectKey = await hmacSha256(resolveSecret(ctx.env).secret, "erasure-subject-v1");
  const eraser = new ClientEraser({
    kv,
    clock,
    log,
    router: svc.router,
    agent,
    subjectKey,
    waitMs: ERASE_WAIT_MS,
  });
  agent.start();
  retention.start();
  const counter = (name: string, help: string, value: number) => ({
    name,
    type: "counter" as const,
    help,
    value,
  });
  const life: Lifecycle = {
    name: "data lifecycle",
    eraser,
    retention,
    agent,
    metrics: () => [
      counter(
        "chat_retention_chats_total",
        "Chats this node's retention sweeps handed to the purge (closed too long ago)",
        retention.totals.taken,
      ),
      counter(
        "chat_retention_sweeps_total",
        "Retention sweeps run by this node",
        retention.totals.sweeps,
      ),
      counter(
        "chat_purged_chats_total",
        "Chats deleted by this node (retention, erasure)",
        agent.totals.chats,
      ),
      counter(
        "chat_purged_attachments_total",
        "Attachments deleted with their chats",
        agent.totals.attachments,
      ),
      counter("chat_purged_hints_total", "Hint pairs deleted with their chats", agent.totals.hints),
      counter(
        "chat_purged_webhook_records_total",
        "Webhook deliveries and dead letters deleted with their chats",
        agent.totals.deliveries,
      ),
      counter(
        "chat_erased_clients_total",
        "Client actors deleted by erasure on this node",
        agent.totals.clients,
      ),
    ],
    async stop() {
      running.delete(svc);
      await retention.stop();
      await agent.stop();
    },
  };
  running.set(svc, life);
  return life;
}
