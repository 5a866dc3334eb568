/**
 * The bot's statistics, cluster-wide: KV counters of answers by intent, hand-overs by reason and
 * LLM fallbacks by reason, shown to staff at `GET /api/v1/chat/bot/stats`. The bot's turns are
 * also in every chat's history; these counters answer "how much does the bot do" without
 * reading histories. Intent names from an LLM are not trusted as keys: unknown ones count as
 * "other", so the number of keys stays bounded by the knowledge file.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Authenticator } from "../../auth/mod.ts";
import type { Logger } from "../../log.ts";
import type { ChatEventNotice } from "../../server/chat_service.ts";
import { type ApiEnv, authed, ERRORS, json, SECURITY } from "../../server/openapi.ts";

const PREFIX = ["integrations", "bot", "stats"] as const;

/** Why a chat went to a human: the reason stored with the `escalated` event, by code. */
export const ESCALATION_REASONS = {
  asked: "the client asked for a human",
  not_understood: "not understood twice in a row",
  overloaded: "the bot is overloaded",
  keyword: "keyword", // followed by the keyword in quotes
} as const;
export type EscalationCode = keyof typeof ESCALATION_REASONS;

/** The code of a stored reason; hand-overs not made by the bot count as "other". */
export function escalationCode(reason: string): EscalationCode | "other" {
  for (const [code, text] of Object.entries(ESCALATION_REASONS)) {
    if (reason === text || (code === "keyword" && reason.startsWith(`${text} "`))) {
      return code as EscalationCode;
    }
  }
  return "other";
}

type Group = "answers" | "escalations" | "llm_fallbacks";

const Counts = z.record(z.string(), z.number().int());
const BotStatsSchema = z.object({
  mode: z.enum(["waiting", "all"]),
  brain: z.enum(["matcher", "llm"]),
  answers: Counts.openapi({ description: "Bot answers by intent (welcome, fallback, handoff…)" }),
  escalations: Counts.openapi({ description: "Chats handed to a human, by reason" }),
  llm_fallbacks: Counts.openapi({ description: "LLM failures answered offline, by reason" }),
}).openapi("BotStats");

export class BotStats {
  readonly #kv: Deno.Kv;
  readonly #log: Logger;
  readonly #intents: ReadonlySet<string>;
  /** Counter writes under way; a read waits for them, so it sees every event already stored. */
  readonly #inFlight = new Set<Promise<void>>();

  constructor(kv: Deno.Kv, log: Logger, intents: readonly string[]) {
    this.#kv = kv;
    this.#log = log;
    this.#intents = new Set([...intents, "welcome", "fallback", "handoff"]);
  }

  /**
   * A `ChatService.onChatEvent` listener: counts the bot's stored answers and hand-overs, so
   * the numbers are those of the histories (whoever escalated: the bot or the client).
   */
  readonly onEvent = (n: ChatEventNotice): void => {
    const e = n.event;
    if (e.type === "bot_message") {
      this.#add("answers", this.#intents.has(e.intent) ? e.intent : "other");
    } else if (e.type === "escalated") {
      this.#add("escalations", escalationCode(e.reason));
    }
  };

  llmFellBack(reason: string): Promise<void> {
    return this.#add("llm_fallbacks", reason);
  }

  /** Resolves once the counter writes under way are done (integration stop). */
  async flushed(): Promise<void> {
    await Promise.all(this.#inFlight);
  }

  async read(): Promise<Record<Group, Record<string, number>>> {
    await this.flushed();
    const out: Record<Group, Record<string, number>> = {
      answers: {},
      escalations: {},
      llm_fallbacks: {},
    };
    for await (const e of this.#kv.list<Deno.KvU64>({ prefix: [...PREFIX] })) {
      const [group, name] = e.key.slice(PREFIX.length) as [Group, string];
      if (out[group]) out[group][name] = Number(e.value.value);
    }
    return out;
  }

  #add(group: Group, name: string): Promise<void> {
    const write = this.#kv.atomic().sum([...PREFIX, group, name], 1n).commit().then(
      () => {},
      // A lost count must not cost the client its answer.
      (err) => this.#log.warn("bot: could not count", { group, name, err: err as Error }),
    ).finally(() => this.#inFlight.delete(write));
    this.#inFlight.add(write);
    return write;
  }
}

export function botStatsRoute(
  api: OpenAPIHono<ApiEnv>,
  auth: Authenticator,
  stats: BotStats,
  info: { mode: "waiting" | "all"; brain: "matcher" | "llm" },
): void {
  const route = createRoute({
    method: "get",
    path: "/bot/stats",
    summary: "Staff: the bot's answers by intent, hand-overs by reason, LLM fallbacks",
    tags: ["common"],
    security: SECURITY,
    middleware: [authed(auth, ["operator", "lawyer", "admin"])] as const,
    responses: { 200: json(BotStatsSchema, "Counters since the KV was created"), ...ERRORS },
  });
  api.openapi(route, async (c) => c.json({ ...info, ...(await stats.read()) }, 200));
}
