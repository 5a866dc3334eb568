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
/** Chats remembered as settled (later messages skip reading the log) or titled: at most this. */
const MEMORY_MAX = 10_000;
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
  /** Chats with a look queued and not yet started: the newest message seq it covers. */
  readonly #due = new Map<string, number>();
  /** Unsettled chats: how many opening client messages their current title was made from. */
  readonly #titledFrom = new Map<string, number>();
  /** Messages refused since the overload began (0 = not overloaded). */
  #refused = 0;

  constructor(o: { svc: ChatService; llm: LlmClient | null; log: Logger }) {
    this.#svc = o.svc;
    this.#llm = o.llm;
    this.#log = o.log;
  }

  /**
   * The `ChatService.onChatEvent` listener. A chat has at most one look queued: messages that
   * arrive before it starts only move the seq it reads up to, so a burst costs one log read.
   */
  readonly onEvent = (n: ChatEventNotice): void => {
    const e = n.event;
    if (e.type !== "message" || e.senderRole !== "client" || n.view.kind !== "support") return;
    if (n.seq > OPENING_EVENTS || this.#settled.has(n.chatId)) return;
    const due = this.#due.get(n.chatId);
    if (due !== undefined) {
      this.#due.set(n.chatId, Math.max(due, n.seq));
      return;
    }
    if (!this.#serial.run(n.chatId, () => this.#consider(n.chatId))) {
      // Told once per overload, not once per message.
      if (this.#refused++ === 0) {
        this.#log.warn("titles: too much pending, chats left untitled for now", { chat: n.chatId });
      }
      return;
    }
    if (this.#refused > 0) {
      this.#log.info("titles: taking chats again", { refused_messages: this.#refused });
      this.#refused = 0;
    }
    this.#due.set(n.chatId, n.seq);
  };

  idle(): Promise<void> {
    return this.#serial.idle();
  }

  /**
   * Reads the chat's opening client messages up to the newest seq due and titles it as message
   * by message would have ended: from the longest prefix that titles anew ({@link shouldTitle}),
   * unless the title was already made from it.
   */
  async #consider(chatId: string): Promise<void> {
    const seq = this.#due.get(chatId);
    this.#due.delete(chatId); // messages from now on queue the next look
    if (seq === undefined) return;
    try {
      const texts = await openingClientMessages(this.#svc, chatId, seq);
      if (!texts || texts.length === 0) return;
      // After a message with a topic no later one titles anew (see shouldTitle).
      const settles = texts.length >= REFINE_UNTIL || !texts.every(isTrivial);
      let k = texts.length;
      while (k > 0 && !shouldTitle(texts.slice(0, k))) k--;
      if (k > (this.#titledFrom.get(chatId) ?? 0)) {
        await this.#svc.setTitle(chatId, await this.#make(texts.slice(0, k)));
        remember(this.#titledFrom, chatId, k);
      }
      if (settles) {
        remember(this.#settled, chatId);
        this.#titledFrom.delete(chatId);
      }
    } catch (err) {
      this.#log.warn("titles: could not set a title", { chat: chatId, err: err as Error });
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
}

/** Adds to a bounded memory, forgetting the oldest entry when full (insertion order). */
function remember(m: Set<string>, key: string): void;
function remember(m: Map<string, number>, key: string, value: number): void;
function remember(
  m: Set<string> | Map<string, number>,
  key: string,
  value?: number,
): void {
  if (m.size >= MEMORY_MAX && !m.has(key)) m.delete(m.keys().next().value!);
  if (m instanceof Set) m.add(key);
  else m.set(key, value!);
}
