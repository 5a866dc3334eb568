/**
 * Gives each chat a short title from the client's first messages: after the first one, and again
 * after the second or third while everything before was small talk ("hi" → "Hi", then "my order
 * has not arrived" → "My order has not arrived"). Stored as a `titled` session event, so the
 * `chat_title` frame reaches the chat's followers and the history keeps it.
 */
import { z } from "zod";
import type { Logger } from "../../log.ts";
import type { ChatEventNotice, ChatService } from "../../server/chat_service.ts";
import { OPENING_EVENTS, openingClientMessages } from "../bot/chat_log.ts";
import { type LlmClient, LlmError } from "../bot/llm.ts";
import { KeyedSerial } from "../bot/serial.ts";
import { cut, extractiveTitle, isTrivial, TITLE_MAX } from "./extractive.ts";

/** Client messages that may still change the title (while the earlier ones were small talk). */
export const REFINE_UNTIL = 3;
/** Chats whose title is final, remembered so later messages skip reading the log (bounded). */
const SETTLED_MAX = 10_000;
const MAX_PENDING = 1000;

const LlmTitleSchema = z.object({ title: z.string().trim().min(1).max(200) });

const SYSTEM_PROMPT = [
  "You name customer-support chats for the agents' chat list.",
  'Reply with one JSON object and nothing else: {"title": string}.',
  "The title says in at most 8 words what the client needs, in the client's language,",
  "without quotes, greetings or a final period.",
].join("\n");

/**
 * Whether the client's messages so far (oldest first, the new one last) title the chat anew:
 * the first always does; the second or third only if everything before was small talk.
 */
export function shouldTitle(texts: readonly string[]): boolean {
  const k = texts.length;
  // A message of attachments only has nothing to title with.
  if (k === 0 || k > REFINE_UNTIL || texts[k - 1].trim() === "") return false;
  return k === 1 || (texts.slice(0, -1).every(isTrivial) && !isTrivial(texts[k - 1]));
}

export class Titler {
  readonly #svc: ChatService;
  readonly #llm: LlmClient | null;
  readonly #log: Logger;
  readonly #serial = new KeyedSerial(MAX_PENDING);
  readonly #settled = new Set<string>();

  constructor(o: { svc: ChatService; llm: LlmClient | null; log: Logger }) {
    this.#svc = o.svc;
    this.#llm = o.llm;
    this.#log = o.log;
  }

  /** The `ChatService.onChatEvent` listener. */
  readonly onEvent = (n: ChatEventNotice): void => {
    const e = n.event;
    if (e.type !== "message" || e.senderRole !== "client" || n.view.kind !== "support") return;
    if (n.seq > OPENING_EVENTS || this.#settled.has(n.chatId)) return;
    if (!this.#serial.run(n.chatId, () => this.#consider(n.chatId, n.seq))) {
      this.#log.warn("titles: too much pending, chat left untitled for now", { chat: n.chatId });
    }
  };

  idle(): Promise<void> {
    return this.#serial.idle();
  }

  async #consider(chatId: string, seq: number): Promise<void> {
    try {
      const texts = await openingClientMessages(this.#svc, chatId, seq);
      if (!texts || texts.length === 0) return;
      if (texts.length >= REFINE_UNTIL || !isTrivial(texts[texts.length - 1])) {
        this.#settle(chatId);
      }
      if (!shouldTitle(texts)) return;
      await this.#svc.setTitle(chatId, await this.#make(texts));
    } catch (err) {
      this.#log.warn("titles: could not set a title", { chat: chatId, error: err as Error });
    }
  }

  /** The LLM's title when configured and it answers well, else the extractive one. */
  async #make(texts: readonly string[]): Promise<string> {
    if (this.#llm) {
      try {
        const { title } = await this.#llm.completeJson([
          { role: "system", content: SYSTEM_PROMPT },
          { role: "user", content: texts.join("\n") },
        ], LlmTitleSchema);
        const clean = cut(title.replace(/^["'“]+|["'”.]+$/g, "").trim(), TITLE_MAX);
        if (clean !== "") return clean;
      } catch (err) {
        const reason = err instanceof LlmError ? err.reason : "error";
        this.#log.warn("titles: LLM failed, extractive title instead", {
          reason,
          error: (err as Error).message,
        });
      }
    }
    return extractiveTitle(texts);
  }

  #settle(chatId: string): void {
    if (this.#settled.size >= SETTLED_MAX) {
      // Forget the oldest (a Set iterates in insertion order); it costs one log read at most.
      this.#settled.delete(this.#settled.values().next().value!);
    }
    this.#settled.add(chatId);
  }
}
