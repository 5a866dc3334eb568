/**
 * What a Telegram user gets for each stored chat event: staff and bot messages, and one short
 * line when the chat waits, is taken, passed on or closed. Their own messages are not echoed.
 */
import type { SessionEvent } from "../../../actors/session.ts";

/** Telegram's limit for one message's text. */
export const TELEGRAM_TEXT_MAX = 4096;

export const TEXTS = {
  queued: "Thanks for your message. You are in the queue; an operator will answer here.",
  assigned: "An operator has joined the chat.",
  transferred: "Your chat was passed to another operator.",
  requeued: "Your chat is back in the queue; the next free operator will answer.",
  closed: "This chat is closed. Write again any time to start a new one.",
} as const;

export interface Reply {
  readonly text: string;
  /** Quick replies offered as a one-time keyboard. */
  readonly keyboard?: readonly string[];
}

export function replyFor(e: SessionEvent): Reply | null {
  switch (e.type) {
    case "message": {
      if (e.senderRole === "client") return null;
      const files = (e.attachments ?? []).map((a) => `📎 ${a.name}`);
      const text = [e.text, ...files].filter((t) => t.trim() !== "").join("\n");
      return text ? { text } : null;
    }
    case "bot_message":
      return e.quickReplies.length ? { text: e.text, keyboard: e.quickReplies } : { text: e.text };
    case "queued":
      return { text: TEXTS.queued };
    case "assigned":
      return { text: TEXTS.assigned };
    case "transferred":
      return { text: e.to === null ? TEXTS.requeued : TEXTS.transferred };
    case "closed":
      return { text: TEXTS.closed };
    default:
      return null;
  }
}

/** Splits a text into pieces Telegram accepts, preferring to cut at a line break. */
export function splitText(text: string, max = TELEGRAM_TEXT_MAX): string[] {
  const parts: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const nl = rest.lastIndexOf("\n", max);
    const cut = nl > max / 2 ? nl : max;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^\n/, "");
  }
  parts.push(rest);
  return parts;
}
