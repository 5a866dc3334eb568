/**
 * Chat titles (TITLE_MODE): a short title per chat from the client's first messages, extractive
 * offline or from an OpenAI-compatible endpoint (falling back to extractive), plus
 * `GET /api/v1/chat/titles` for staff. See docs/INTEGRATIONS.md, "Chat titles".
 */
import type { Config } from "../../config.ts";
import { LlmClient } from "../bot/llm.ts";
import type { Integration, IntegrationContext } from "../mod.ts";
import { titleRoutes } from "./routes.ts";
import { Titler } from "./titler.ts";

export function startTitles(ctx: IntegrationContext): Promise<Integration | null> {
  // Nothing to wait for at start; a configuration error still becomes a rejection.
  return Promise.resolve().then(() => createTitles(ctx));
}

function createTitles(ctx: IntegrationContext): Integration | null {
  const { config, svc, auth, log } = ctx;
  if (config.TITLE_MODE === "off") return null;
  const llm = config.TITLE_MODE === "llm" ? titleLlm(config, ctx) : null;
  const titler = new Titler({ svc, llm, log });
  const unsubscribe = svc.onChatEvent(titler.onEvent);
  log.info("titles ready", { mode: config.TITLE_MODE });
  return {
    name: "titles",
    routes: (api) => titleRoutes(api, svc, auth),
    async stop() {
      unsubscribe();
      llm?.close();
      await titler.idle();
    },
  };
}

/** TITLE_LLM_* with BOT_LLM_* as defaults; a URL is required (checked at start). */
function titleLlm(config: Config, ctx: IntegrationContext): LlmClient {
  const url = config.TITLE_LLM_URL ?? config.BOT_LLM_URL;
  if (!url) throw new Error("TITLE_MODE=llm needs TITLE_LLM_URL (or BOT_LLM_URL)");
  const apiKey = config.TITLE_LLM_API_KEY ?? config.BOT_LLM_API_KEY;
  return new LlmClient({
    url,
    ...(apiKey ? { apiKey } : {}),
    model: config.TITLE_LLM_MODEL ?? config.BOT_LLM_MODEL,
    timeoutMs: config.BOT_LLM_TIMEOUT_MS,
  }, { clock: ctx.clock, maxInFlight: config.BOT_LLM_CONCURRENCY });
}
