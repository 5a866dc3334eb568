/**
 * The Telegram channel: a Telegram user's messages become a chat, queued like any other, and
 * the staff's replies go back to that Telegram chat. Off unless TELEGRAM_BOT_TOKEN is set.
 *
 * - Inbound: long polling by default (one node at a time, elected by a KV lease), or a webhook
 *   route (any node). Either way an update is acknowledged only after its message is stored.
 * - Outbound: on the node that owns the chat (`onChatEvent`), through a per-chat queue backed by
 *   a KV outbox; what a crash cut off between a commit and the outbox is read back from the
 *   chat's log by the catch-up (any node; src/integrations/feed.ts).
 */
import { SESSION } from "../../../actors/_common.ts";
import type { SessionEvent } from "../../../actors/_session_types.ts";
import { CHANNEL_FEED_PREFIX } from "../../../actors/_session_writes.ts";
import { CatchUp, Cursors } from "../feed.ts";
import type { Config } from "../../config.ts";
import type { ChatService } from "../../server/chat_service.ts";
import type { Integration, IntegrationContext } from "../mod.ts";
import { botIdOf, tgKeys } from "./_kv.ts";
import { describe } from "./_retry.ts";
import { TelegramApi } from "./api.ts";
import { Inbound } from "./inbound.ts";
import { KvLease } from "./lease.ts";
import { Outbound } from "./outbound.ts";
import { Poller } from "./poller.ts";
import { webhookRoutes } from "./webhook.ts";

/** How often the catch-up looks for chats whose replies a crash cut off. */
const CATCH_UP_MS = 5_000;

/** The running outbound catch-up of each server, by its chat service (tests and diagnostics). */
const running = new WeakMap<ChatService, CatchUp>();

export function telegramCatchUpOf(svc: ChatService): CatchUp | undefined {
  return running.get(svc);
}

export async function startTelegram(ctx: IntegrationContext): Promise<Integration | null> {
  const c = ctx.config;
  if (!c.TELEGRAM_BOT_TOKEN) return null;
  checkConfig(c);
  const { kv, clock, log, svc } = ctx;
  const keys = tgKeys(botIdOf(c.TELEGRAM_BOT_TOKEN));
  const api = new TelegramApi({
    baseUrl: c.TELEGRAM_API_URL,
    token: c.TELEGRAM_BOT_TOKEN,
    timeoutMs: c.TELEGRAM_HTTP_TIMEOUT_MS,
    clock,
  });
  const retry = { retryBaseMs: c.TELEGRAM_RETRY_BASE_MS, maxAttempts: c.TELEGRAM_MAX_ATTEMPTS };
  const node = c.NODE_NAME ?? Deno.hostname();

  const cursors = new Cursors(kv, keys.cursor);
  const outbound = new Outbound({
    api,
    kv,
    keys,
    clock,
    log,
    node,
    ...retry,
    cursors,
    channelOf: async (chatId) => (await svc.peek(chatId)).channel,
  });
  const unlisten = svc.onChatEvent(outbound.onEvent);
  const resumed = await outbound.resume();
  if (resumed) log.info("telegram replies resumed from the outbox", { count: resumed });
  const catchUp = new CatchUp({
    kv,
    name: "telegram",
    marks: CHANNEL_FEED_PREFIX,
    cursors,
    readLog: (chatId, after, limit) =>
      svc.system.readEvents<SessionEvent>(SESSION, chatId, after, limit),
    prepare: () => Promise.resolve(outbound.takeLate),
    clock,
    log,
    pollMs: CATCH_UP_MS,
  });
  await catchUp.start();
  running.set(svc, catchUp);

  const inbound = new Inbound({ svc, kv, keys, clock, maxTextLength: c.MAX_TEXT_LENGTH });
  let poller: Poller | null = null;
  if (c.TELEGRAM_MODE === "polling") {
    // The node's name holds the lease, so a node restarted after a crash polls again at once
    // instead of waiting for its own old lease to expire (node names are unique in a cluster).
    const holder = node;
    const leaseMs = c.TELEGRAM_LEASE_S * 1000;
    poller = new Poller({
      api,
      kv,
      keys,
      clock,
      log,
      lease: new KvLease(kv, keys.lease, holder, leaseMs, clock),
      handle: (u) => inbound.handle(u),
      pollTimeoutS: c.TELEGRAM_POLL_TIMEOUT_S,
      // A standby node checks a few times per lease period whether the holder went away.
      standbyMs: Math.max(1000, Math.floor(leaseMs / 3)),
      ...retry,
    });
    poller.start();
  } else if (c.TELEGRAM_WEBHOOK_URL) {
    // Best effort: a failure is logged, and the webhook can be set by hand (see the docs).
    await api.setWebhook(c.TELEGRAM_WEBHOOK_URL, c.TELEGRAM_WEBHOOK_SECRET).catch((err) =>
      log.error("telegram setWebhook failed", { err: describe(err) })
    );
  }

  return {
    name: `telegram (${c.TELEGRAM_MODE})`,
    metrics: () => [{
      name: "chat_telegram_caught_up_events_total",
      type: "counter",
      help: "Chat events read back from logs by the Telegram catch-up (their notice was lost)",
      value: catchUp.caughtUp,
    }, {
      name: "chat_telegram_replies_pending",
      type: "gauge",
      help: "Telegram replies queued on this node, not yet sent",
      value: outbound.pending,
    }],
    ...(c.TELEGRAM_MODE === "webhook"
      ? {
        routes: webhookRoutes({ inbound, secret: c.TELEGRAM_WEBHOOK_SECRET, kv, keys, log }),
      }
      : {}),
    async stop() {
      await poller?.stop();
      unlisten();
      running.delete(svc);
      await catchUp.stop();
      await outbound.stop();
    },
  };
}

/** Settings that only make sense together; refused at start with a clear message. */
function checkConfig(c: Config): void {
  if (c.TELEGRAM_MODE === "webhook" && !c.TELEGRAM_WEBHOOK_SECRET) {
    throw new Error(
      "Invalid configuration: TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_SECRET " +
        "(anyone could post updates otherwise)",
    );
  }
  const pollMs = c.TELEGRAM_POLL_TIMEOUT_S * 1000 + c.TELEGRAM_HTTP_TIMEOUT_MS;
  if (c.TELEGRAM_MODE === "polling" && c.TELEGRAM_LEASE_S * 1000 <= pollMs) {
    throw new Error(
      `Invalid configuration: TELEGRAM_LEASE_S (${c.TELEGRAM_LEASE_S}) must exceed one poll, ` +
        "TELEGRAM_POLL_TIMEOUT_S plus TELEGRAM_HTTP_TIMEOUT_MS",
    );
  }
}
