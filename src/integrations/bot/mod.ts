/**
 * The bot integration (BOT_MODE): answers client messages from a knowledge file while a chat
 * waits with no operator free (`waiting`), or holds every new web chat until it escalates
 * (`all`). The offline matcher always works; an OpenAI-compatible endpoint (BOT_LLM_URL) can be
 * the brain, with the matcher as its fallback. See docs/INTEGRATIONS.md, "Bot".
 */
import type { Config } from "../../config.ts";
import type { Integration, IntegrationContext } from "../mod.ts";
import { Brain } from "./brain.ts";
import { loadKnowledge } from "./knowledge.ts";
import { LlmClient } from "./llm.ts";
import { Matcher } from "./matcher.ts";
import { BotResponder } from "./responder.ts";
import { EscalationRules } from "./rules.ts";
import { BotStats, botStatsRoute } from "./stats.ts";

/** Whether new web chats start with the bot (status `bot`) instead of the queue. */
export function botHoldsNewChats(config: Pick<Config, "BOT_MODE">): boolean {
  return config.BOT_MODE === "all";
}

export async function startBot(ctx: IntegrationContext): Promise<Integration | null> {
  const { config, log } = ctx;
  const mode = config.BOT_MODE;
  if (mode === "off") return null;
  // A missing or broken file stops the start with a message naming the file and the field.
  const knowledge = await loadKnowledge(config.BOT_KNOWLEDGE_FILE);
  const matcher = new Matcher(knowledge);
  const llm = config.BOT_LLM_URL
    ? new LlmClient({
      url: config.BOT_LLM_URL,
      ...(config.BOT_LLM_API_KEY ? { apiKey: config.BOT_LLM_API_KEY } : {}),
      model: config.BOT_LLM_MODEL,
      timeoutMs: config.BOT_LLM_TIMEOUT_MS,
    }, { clock: ctx.clock, maxInFlight: config.BOT_LLM_CONCURRENCY })
    : null;
  const minConfidence = config.BOT_MIN_CONFIDENCE;
  const brain = new Brain({ knowledge, matcher, minConfidence, llm, log });
  const rules = new EscalationRules(
    knowledge,
    matcher,
    minConfidence,
    config.BOT_ESCALATE_KEYWORDS,
  );
  const stats = new BotStats(ctx.kv, log, knowledge.intents.map((i) => i.name));
  const responder = new BotResponder({
    svc: ctx.svc,
    brain,
    rules,
    knowledge,
    minConfidence,
    stats,
    log,
  });
  const unsubscribe = [ctx.svc.onChatEvent(stats.onEvent), ctx.svc.onChatEvent(responder.onEvent)];
  log.info("bot ready", {
    mode,
    intents: knowledge.intents.length,
    brain: llm ? `llm ${config.BOT_LLM_MODEL} (offline fallback)` : "offline matcher",
  });
  return {
    name: "bot",
    routes: (api) => botStatsRoute(api, ctx.auth, stats, { mode, brain: llm ? "llm" : "matcher" }),
    async stop() {
      for (const off of unsubscribe) off();
      llm?.close();
      await responder.idle();
      await stats.flushed();
    },
  };
}
