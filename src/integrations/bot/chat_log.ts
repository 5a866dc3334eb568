/**
 * What the bot and the titles read back from a chat's stored events (the chat's history): the
 * recent turns before a message, and the client's first messages. Reading the log instead of
 * keeping counters in memory makes "twice in a row" and "the first three messages" survive
 * restarts and hold on whichever cluster node owns the chat.
 */
import { SESSION } from "../../../actors/_common.ts";
import type { SessionEvent } from "../../../actors/session.ts";
import type { ChatService } from "../../server/chat_service.ts";
import type { Turn } from "./brain.ts";

/** Events read back before a message: enough for the LLM's context and the previous answer. */
export const TURN_WINDOW = 30;

export interface RecentTurns {
  /** Client messages (user) and bot or staff messages (assistant), oldest first. */
  readonly turns: Turn[];
  /** Confidence of the bot's last answer before the message, or null if there is none. */
  readonly lastBotConfidence: number | null;
}

/** The turns stored before event `seq` (within the last {@link TURN_WINDOW} events). */
export async function turnsBefore(
  svc: ChatService,
  chatId: string,
  seq: number,
): Promise<RecentTurns> {
  const after = Math.max(0, seq - 1 - TURN_WINDOW);
  const envs = await svc.system.readEvents<SessionEvent>(SESSION, chatId, after, TURN_WINDOW);
  const turns: Turn[] = [];
  let lastBotConfidence: number | null = null;
  for (const { seq: s, event: e } of envs) {
    if (s >= seq) break;
    if (e.type === "message" && e.text.trim() !== "") {
      turns.push({ role: e.senderRole === "client" ? "user" : "assistant", text: e.text });
    } else if (e.type === "bot_message") {
      turns.push({ role: "assistant", text: e.text });
      lastBotConfidence = e.confidence;
    }
  }
  return { turns, lastBotConfidence };
}

/** How far into a chat titles look: the first client messages are always within it. */
export const OPENING_EVENTS = 60;

/**
 * The texts of the client's messages up to and including event `seq`, oldest first; null when
 * `seq` lies beyond the chat's opening ({@link OPENING_EVENTS}).
 */
export async function openingClientMessages(
  svc: ChatService,
  chatId: string,
  seq: number,
): Promise<string[] | null> {
  if (seq > OPENING_EVENTS) return null;
  const envs = await svc.system.readEvents<SessionEvent>(SESSION, chatId, 0, seq);
  return envs.flatMap(({ seq: s, event: e }) =>
    s <= seq && e.type === "message" && e.senderRole === "client" ? [e.text] : []
  );
}
