/**
 * The attachments integration: files on local disk by default, or in S3-compatible storage
 * (`ATTACHMENT_STORE=s3`), metadata in KV, signed expiring download links, and the resolver
 * `ChatService.sendMessage` uses for `message.attachments`. `ATTACHMENT_STORE=off` turns it off
 * (messages with attachments are then refused with `not_supported`).
 */
import { resolveSecret } from "../../auth/mod.ts";
import type { Config } from "../../config.ts";
import type { Integration, IntegrationContext } from "../mod.ts";
import { OrphanSweeper } from "./cleanup.ts";
import { LocalStore } from "./local_store.ts";
import { attachmentRoutes } from "./routes.ts";
import { s3Origin, S3Store } from "./s3_store.ts";
import { AttachmentService, type AttachmentSettings } from "./service.ts";
import { canonicalMime } from "./sniff.ts";
import { UrlSigner } from "./signing.ts";

/** Uploads read at once per node: bounds memory to about this many times ATTACHMENT_MAX_BYTES. */
export const MAX_INFLIGHT_UPLOADS = 16;

export function settingsOf(config: Config): AttachmentSettings {
  const allow = config.ATTACHMENT_MIME_ALLOW.split(",").map(canonicalMime);
  return {
    maxBytes: config.ATTACHMENT_MAX_BYTES,
    allow: new Set(allow.filter(Boolean)),
    maxUnzippedBytes: config.ATTACHMENT_MAX_UNZIPPED_BYTES,
    urlTtlS: config.ATTACHMENT_URL_TTL_S,
    orphanTtlMs: config.ATTACHMENT_ORPHAN_TTL_S * 1000,
    maxInflight: MAX_INFLIGHT_UPLOADS,
  };
}

/** The S3 endpoint of the configuration (AWS S3 of S3_REGION when S3_ENDPOINT is unset). */
const s3Endpoint = (c: Config) => c.S3_ENDPOINT ?? `https://s3.${c.S3_REGION}.amazonaws.com`;

/**
 * Origins other than the engine's that serve attachment downloads: the S3 store's, whose
 * presigned links the widget and console show as images. The pages' CSP allows them in `img-src`.
 */
export function attachmentOrigins(c: Config): string[] {
  if (c.ATTACHMENT_STORE !== "s3" || !c.S3_BUCKET) return [];
  return [
    s3Origin({
      endpoint: s3Endpoint(c),
      bucket: c.S3_BUCKET,
      forcePathStyle: c.S3_FORCE_PATH_STYLE,
    }),
  ];
}

/** The S3 store from the configuration; refuses to start when a required setting is missing. */
function s3Store(ctx: IntegrationContext): S3Store {
  const c = ctx.config;
  const missing = (["S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"] as const)
    .filter((k) => !c[k]);
  if (missing.length) {
    throw new Error(`ATTACHMENT_STORE=s3 needs ${missing.join(", ")}`);
  }
  return new S3Store({
    endpoint: s3Endpoint(c),
    bucket: c.S3_BUCKET!,
    region: c.S3_REGION,
    accessKeyId: c.S3_ACCESS_KEY_ID!,
    secretAccessKey: c.S3_SECRET_ACCESS_KEY!,
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

export async function startAttachments(ctx: IntegrationContext): Promise<Integration | null> {
  const { config } = ctx;
  if (config.ATTACHMENT_STORE === "off") return null;
  const local = config.ATTACHMENT_STORE === "local"
    ? new LocalStore(
      config.ATTACHMENTS_DIR,
      await UrlSigner.fromSecret(resolveSecret(ctx.env).secret),
    )
    : null;
  const store = local ?? s3Store(ctx);
  const service = new AttachmentService({
    kv: ctx.kv,
    store,
    access: ctx.svc,
    clock: ctx.clock,
    log: ctx.log,
    settings: settingsOf(config),
  });
  ctx.svc.useAttachments((chatId, uploaderId, ids) => service.resolve(chatId, uploaderId, ids));
  const sweeper = new OrphanSweeper(service, ctx.clock, ctx.log);
  sweeper.start();
  ctx.log.info("attachments ready", { store: store.kind });
  return {
    name: "attachments",
    routes: (api) =>
      attachmentRoutes(api, {
        service,
        auth: ctx.auth,
        config,
        local,
        now: () => ctx.clock.now(),
      }),
    stop: () => sweeper.stop(),
  };
}
