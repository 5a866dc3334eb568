/**
 * The bot in the chat: hears every stored client message (once, on the node that owns the chat),
 * decides whether the bot speaks, answers as an ordinary session event (`bot_response` on the
 * wire, so history and resume include it) and hands the chat to a human when asked to, when a
 * keyword appears, or when it did not understand twice in a row.
 */
import { anyOperatorFree } from "../../../actors/queue.ts";
import { AppError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { ChatEventNotice, ChatService } from "../../server/chat_service.ts";
import { type Brain, languageOf } from "./brain.ts";
import { turnsBefore } from "./chat_log.ts";
import { type Knowledge, localized } from "./knowledge.ts";
import { detectLanguage, type Language } from "./text.ts";
import type { EscalationRules } from "./rules.ts";
import { KeyedSerial } from "./serial.ts";
import { type BotStats, ESCALATION_REASONS, type EscalationCode } from "./stats.ts";

/** Client messages waiting for (or getting) an answer, over all chats. */
export const MAX_PENDING_ANSWERS = 1000;

export interface ResponderOptions {
  readonly svc: ChatService;
  readonly brain: Brain;
  readonly rules: EscalationRules;
  readonly knowledge: Knowledge;
  readonly minConfidence: number;
  readonly stats: BotStats;
  readonly log: Logger;
}

interface Reply {
  readonly intent: string;
  readonly confidence: number;
  readonly text: string;
  readonly quickReplies: readonly string[];
}

export class BotResponder {
  readonly #o: ResponderOptions;
  readonly #serial = new KeyedSerial(MAX_PENDING_ANSWERS);
  readonly #human: Knowledge["intents"][number] | undefined;

  constructor(o: ResponderOptions) {
    this.#o = o;
    this.#human = o.knowledge.intents.find((i) => i.escalate);
  }

  /** The `ChatService.onChatEvent` listener. Never throws; the work runs in the background. */
  readonly onEvent = (n: ChatEventNotice): void => {
    const e = n.event;
    // The client has not written yet: a name in Cyrillic is the only hint of their language.
    if (e.type === "created" && e.held) {
      return this.#welcome(n.chatId, detectLanguage(e.clientName ?? ""));
    }
    // Only the client's words; the bot's own turns are `bot_message` events, never `message`.
    if (e.type !== "message" || e.senderRole !== "client" || !botMayAnswer(n.view)) return;
    // Decided now, as the message is stored: the queue's state is live here on a single node.
    const queue = this.#o.svc.queueState();
    if (n.view.status === "queued" && queue && anyOperatorFree(queue)) return;
    const job = () => this.#answer(n.chatId, n.seq, e.text, queue === undefined);
    if (!this.#serial.run(n.chatId, job)) {
      // Too much pending: a person is better for this client than silence.
      this.#o.log.warn("bot: overloaded, handing the chat to a human", { chat: n.chatId });
      void this.#escalate(n.chatId, "overloaded");
    }
  };

  /** Waits for the answers under way (integration stop). */
  idle(): Promise<void> {
    return this.#serial.idle();
  }

  /** A chat the bot holds opens with the knowledge file's welcome, if it has one. */
  #welcome(chatId: string, language: Language | null): void {
    if (!this.#o.knowledge.welcome) return;
    const w = localized(this.#o.knowledge, "welcome", language);
    const reply = {
      intent: "welcome",
      confidence: 1,
      text: w.answers[0],
      quickReplies: w.quickReplies,
    };
    this.#serial.run(
      chatId,
      () => this.#reply(chatId, reply).catch((e) => this.#failed(chatId, e)),
    );
  }

  async #answer(chatId: string, seq: number, text: string, askQueue: boolean): Promise<void> {
    const { svc, rules, brain, minConfidence, stats } = this.#o;
    try {
      // Things may have moved on while earlier answers were made.
      if (!(await this.#stillWithBot(chatId, askQueue))) return;
      const language = detectLanguage(text);
      const keyword = rules.keyword(text);
      if (keyword) return await this.#handOff(chatId, language, "keyword", `"${keyword}"`);
      if (rules.asksForHuman(text)) return await this.#humanAsked(chatId, language);
      const { turns, lastBotConfidence } = await turnsBefore(svc, chatId, seq);
      const answer = await brain.answer(text, turns);
      if (answer.llmFailure) await stats.llmFellBack(answer.llmFailure);
      const lost = answer.confidence < minConfidence;
      if (lost && lastBotConfidence !== null && lastBotConfidence < minConfidence) {
        const said = answer.language === undefined ? languageOf(text, turns) : answer.language;
        return await this.#handOff(chatId, said, "not_understood");
      }
      await this.#reply(chatId, answer);
      if (answer.escalate) await this.#escalate(chatId, "asked");
    } catch (err) {
      this.#failed(chatId, err);
    }
  }

  /**
   * The chat is still the bot's: held, or waiting and not escalated. `askQueue`: the queue lives
   * on another node (cluster), so whether an operator is free is asked here.
   */
  async #stillWithBot(chatId: string, askQueue: boolean): Promise<boolean> {
    const v = await this.#o.svc.peek(chatId);
    if (!botMayAnswer(v)) return false;
    if (v.status === "bot" || !askQueue) return true;
    return !(await this.#o.svc.queueLive.reads.stats()).operatorFree;
  }

  /** The client asked for a person: the escalating intent's answer, then the hand-over. */
  async #humanAsked(chatId: string, language: Language | null): Promise<void> {
    const h = this.#human;
    const k = this.#o.knowledge;
    const text = localized(k, h ?? "handoff", language).answers[0];
    await this.#reply(chatId, {
      intent: h?.name ?? "handoff",
      confidence: 1,
      text,
      quickReplies: [],
    });
    await this.#escalate(chatId, "asked");
  }

  async #handOff(
    chatId: string,
    language: Language | null,
    code: EscalationCode,
    detail?: string,
  ): Promise<void> {
    const text = localized(this.#o.knowledge, "handoff", language).answers[0];
    await this.#reply(chatId, { intent: "handoff", confidence: 1, text, quickReplies: [] });
    await this.#escalate(chatId, code, detail);
  }

  async #reply(chatId: string, r: Reply): Promise<void> {
    await this.#o.svc.botReply(chatId, {
      intent: r.intent,
      confidence: r.confidence,
      text: r.text,
      quickReplies: [...r.quickReplies],
    });
  }

  /** `detail` follows the code's reason (the keyword, in quotes). */
  async #escalate(chatId: string, code: EscalationCode, detail?: string): Promise<void> {
    const reason = detail ? `${ESCALATION_REASONS[code]} ${detail}` : ESCALATION_REASONS[code];
    try {
      await this.#o.svc.escalate(chatId, reason);
      this.#o.log.info("bot: chat handed to a human", { chat: chatId, reason });
    } catch (err) {
      this.#failed(chatId, err);
    }
  }

  #failed(chatId: string, err: unknown): void {
    // An operator took the chat or it closed meanwhile: the bot simply has nothing to say.
    const code = err instanceof AppError ? err.code : null;
    if (code === "invalid_state" || code === "chat_closed") return;
    this.#o.log.warn("bot: could not answer", { chat: chatId, err: err as Error });
  }
}

/** A support chat the bot holds, or one waiting that nobody asked a human for yet. */
function botMayAnswer(v: ChatEventNotice["view"]): boolean {
  return v.kind === "support" && !v.escalated && (v.status === "bot" || v.status === "queued");
}
