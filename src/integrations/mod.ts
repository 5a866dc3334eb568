/**
 * Integrations (issue 6): bot, titles, Telegram, webhooks, hints, attachments. Each one is a
 * module under `src/integrations/<name>/` that starts from the configuration, listens to chat
 * events (`ChatService.onChatEvent`, called once per stored event on the node that owns the chat),
 * acts through `ChatService`, and may add REST routes. Every one has an offline default that needs
 * no outside service.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Authenticator } from "../auth/mod.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Clock } from "../runtime/clock.ts";
import type { ChatService } from "../server/chat_service.ts";
import type { ApiEnv } from "../server/openapi.ts";
import type { RoutingService } from "../server/routing_service.ts";
import { startTelegram } from "./telegram/mod.ts";
import { startAttachments } from "./attachments/mod.ts";
import { startHints } from "./hints/mod.ts";
import { startBot } from "./bot/mod.ts";
import { startTitles } from "./titles/mod.ts";
import { startWebhooks } from "./webhooks/mod.ts";
import { startSearch } from "./search/mod.ts";
import { startLifecycle } from "../ops/mod.ts";

export interface IntegrationContext {
  readonly config: Config;
  readonly svc: ChatService;
  readonly routing: RoutingService;
  readonly auth: Authenticator;
  /** The shared KV (offsets, registrations, dead letters live here). */
  readonly kv: Deno.Kv;
  /**
   * The server was handed its KV (nodes in one process share one) rather than opening KV_PATH:
   * stores that would open files of their own beside it (search) keep to it instead.
   */
  readonly kvGiven?: boolean;
  readonly log: Logger;
  readonly clock: Clock;
  /** Environment for secrets and URLs not in the config schema (tests pass a map). */
  readonly env: { get(key: string): string | undefined };
}

/** A Prometheus metric an integration adds to `/metrics` (names start with `chat_`). */
export interface IntegrationMetric {
  readonly name: string;
  readonly type: "gauge" | "counter";
  readonly help: string;
  readonly value: number;
}

export interface Integration {
  readonly name: string;
  /** This node's figures for `/metrics` (read at each scrape). */
  metrics?(): readonly IntegrationMetric[] | Promise<readonly IntegrationMetric[]>;
  /** Adds REST routes under `/api/v1/chat` (OpenAPI-described). */
  routes?(api: OpenAPIHono<ApiEnv>): void;
  /** Stops pollers and timers; waits for in-flight work. */
  stop?(): Promise<void>;
}

type Starter = (ctx: IntegrationContext) => Promise<Integration | null>;

/** Every integration, in start order. Each returns null when its configuration turns it off. */
const STARTERS: Starter[] = [
  // integrations register here (one line each)
  startAttachments,
  startHints,
  startTelegram,
  startBot,
  startTitles,
  startWebhooks,
  startSearch,
  // Last, so it stops first: retention and erasure purge through the integrations above.
  startLifecycle,
];

export async function startIntegrations(ctx: IntegrationContext): Promise<Integration[]> {
  const out: Integration[] = [];
  for (const start of STARTERS) {
    const i = await start(ctx);
    if (i) {
      out.push(i);
      ctx.log.info("integration started", { name: i.name });
    }
  }
  return out;
}

export async function stopIntegrations(list: readonly Integration[]): Promise<void> {
  for (const i of [...list].reverse()) await i.stop?.();
}
