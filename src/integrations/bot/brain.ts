/**
 * What the bot says to one client message: from the LLM when one is configured (with the
 * knowledge file as its context), else, or when the LLM fails, from the offline matcher.
 */
import { z } from "zod";
import type { Logger } from "../../log.ts";
import { type Knowledge, localized } from "./knowledge.ts";
import { type ChatMessage, type LlmClient, LlmError } from "./llm.ts";
import type { Matcher } from "./matcher.ts";
import { detectLanguage, type Language } from "./text.ts";

export interface Answer {
  readonly intent: string;
  readonly confidence: number;
  readonly text: string;
  readonly quickReplies: string[];
  /** The answer is to an intent marked `escalate`: the client asked for a person. */
  readonly escalate: boolean;
  readonly source: "matcher" | "llm";
  /** Offline answers: the language they are in (the client's, when it could be told). */
  readonly language?: Language | null;
  /** Why the LLM's answer was not used, when one was asked for and failed. */
  readonly llmFailure?: string;
}

/** An earlier turn of the chat, oldest first (client = user, bot or staff = assistant). */
export interface Turn {
  readonly role: "user" | "assistant";
  readonly text: string;
}

/** Turns of context sent to the LLM besides the new message. */
export const LLM_CONTEXT_TURNS = 8;

const LlmAnswerSchema = z.object({
  intent: z.string().trim().min(1).max(64),
  confidence: z.number().min(0).max(1),
  answer: z.string().trim().min(1).max(4000),
  quick_replies: z.array(z.string().trim().min(1).max(80)).max(10).default([]),
});

export interface BrainOptions {
  readonly knowledge: Knowledge;
  readonly matcher: Matcher;
  readonly minConfidence: number;
  readonly llm: LlmClient | null;
  readonly log: Logger;
}

export class Brain {
  readonly #o: BrainOptions;
  readonly #escalating: ReadonlySet<string>;
  readonly #systemPrompt: string;
  /** Answers by source and LLM failures by reason, for logs and tests. */
  readonly counters = { llm: 0, matcher: 0, llmFailures: {} as Record<string, number> };

  constructor(o: BrainOptions) {
    this.#o = o;
    this.#escalating = new Set(o.knowledge.intents.filter((i) => i.escalate).map((i) => i.name));
    this.#systemPrompt = systemPrompt(o.knowledge);
  }

  async answer(text: string, turns: readonly Turn[]): Promise<Answer> {
    let llmFailure: string | undefined;
    if (this.#o.llm) {
      try {
        const a = await this.#fromLlm(this.#o.llm, text, turns);
        this.counters.llm++;
        return a;
      } catch (err) {
        llmFailure = err instanceof LlmError ? err.reason : "error";
        this.counters.llmFailures[llmFailure] = (this.counters.llmFailures[llmFailure] ?? 0) + 1;
        this.#o.log.warn("bot: LLM failed, answering offline", {
          reason: llmFailure,
          error: (err as Error).message,
        });
      }
    }
    this.counters.matcher++;
    const offline = this.offline(text, turns);
    return llmFailure ? { ...offline, llmFailure } : offline;
  }

  /**
   * The matcher's answer; below the threshold, the knowledge file's fallback. Either is said in
   * the language of the message (of the client's last message with letters, when this one has
   * none, e.g. an order number).
   */
  offline(text: string, turns: readonly Turn[]): Answer {
    const k = this.#o.knowledge;
    const language = languageOf(text, turns);
    const { intent, confidence } = this.#o.matcher.match(text);
    if (!intent || confidence < this.#o.minConfidence) {
      const fb = localized(k, "fallback", language);
      return {
        intent: "fallback",
        confidence,
        text: fb.answers[0],
        quickReplies: [...fb.quickReplies],
        escalate: false,
        source: "matcher",
        language,
      };
    }
    // Answers take turns, so a client asking twice does not get the very same words.
    const asked = turns.filter((t) => t.role === "assistant").length;
    const said = localized(k, intent, language);
    return {
      intent: intent.name,
      confidence,
      text: said.answers[asked % said.answers.length],
      quickReplies: [...said.quickReplies],
      escalate: intent.escalate,
      source: "matcher",
      language,
    };
  }

  async #fromLlm(llm: LlmClient, text: string, turns: readonly Turn[]): Promise<Answer> {
    const messages: ChatMessage[] = [
      { role: "system", content: this.#systemPrompt },
      ...turns.slice(-LLM_CONTEXT_TURNS).map((t) => ({ role: t.role, content: t.text })),
      { role: "user", content: text },
    ];
    const a = await llm.completeJson(messages, LlmAnswerSchema);
    return {
      intent: a.intent,
      confidence: a.confidence,
      text: a.answer,
      quickReplies: a.quick_replies,
      escalate: this.#escalating.has(a.intent),
      source: "llm",
    };
  }
}

/** The language of the message, else of the latest client turn that has letters. */
export function languageOf(text: string, turns: readonly Turn[] = []): Language | null {
  const own = detectLanguage(text);
  if (own) return own;
  for (let i = turns.length - 1; i >= 0; i--) {
    if (turns[i].role !== "user") continue;
    const l = detectLanguage(turns[i].text);
    if (l) return l;
  }
  return null;
}

function systemPrompt(k: Knowledge): string {
  const knowledge = {
    intents: k.intents.map((i) => ({
      name: i.name,
      examples: i.examples,
      answers: i.answers,
      quick_replies: i.quick_replies,
      ...(i.escalate ? { escalate: true } : {}),
      ...(Object.keys(i.lang).length ? { lang: i.lang } : {}),
    })),
    fallback: k.fallback,
  };
  return [
    "You are the virtual assistant of a customer-support chat. Answer only from the knowledge",
    "below; never invent facts, prices or promises.",
    'Reply with one JSON object and nothing else: {"intent": string, "confidence": number,',
    '"answer": string, "quick_replies": string[]}.',
    '- intent: the name of the best matching intent, or "fallback" when none fits.',
    "- confidence: 0 to 1, how sure you are that the intent fits the client's message.",
    "- answer: your reply, in the client's language, based on that intent's answers.",
    "- quick_replies: up to 4 short follow-ups the client can press; prefer the intent's own.",
    "If the client asks for a person, use the intent marked escalate.",
    "",
    "Knowledge (JSON):",
    JSON.stringify(knowledge),
  ].join("\n");
}
