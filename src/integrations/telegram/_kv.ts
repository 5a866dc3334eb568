/**
 * Where the Telegram integration keeps its state in KV, all under `["tg", <bot id>]` so that a
 * new bot token starts fresh: the polling offset, the Telegram chat → chat mapping, processed
 * update ids, the outbox of replies not yet delivered, what was sent lately, the outbound's
 * cursors (src/integrations/feed.ts), dead letters and the poller's lease.
 */

/** How long a processed update id is remembered (Telegram keeps undelivered updates for 24 h). */
export const SEEN_TTL_MS = 7 * 24 * 3600_000;
/** How long a sent reply is remembered, so that a chat event taken in again is not resent. */
export const SENT_TTL_MS = 7 * 24 * 3600_000;
/** How long a dead letter is kept for inspection. */
export const DEAD_TTL_MS = 30 * 24 * 3600_000;

/** The chat a Telegram chat currently writes into. */
export interface ChatLink {
  readonly chatId: string;
  readonly clientId: string;
  readonly name: string;
}

/** A processed update: the message it became (absent for updates that carry none). */
export interface SeenUpdate {
  readonly chatId?: string;
  readonly seq?: number;
  readonly at: number;
}

export interface TgKeys {
  /** The next `getUpdates` offset: every update below it is stored. */
  readonly offset: Deno.KvKey;
  readonly lease: Deno.KvKey;
  chat(tgChatId: number | string): Deno.KvKey;
  seen(updateId: number): Deno.KvKey;
  /** Prefix of the outbox; entries are `[...outbox, chatId, seq, part]`. */
  readonly outbox: Deno.KvKey;
  out(chatId: string, seq: number, part: number): Deno.KvKey;
  /** A reply sent (or dead-lettered) lately: `[...sent, chatId, seq, part]` → when. */
  sent(chatId: string, seq: number, part: number): Deno.KvKey;
  /** Every event of the chat up to this seq has its replies in the outbox (or sent). */
  cursor(chatId: string): Deno.KvKey;
  dead(direction: "in" | "out", ...id: Array<string | number>): Deno.KvKey;
}

/** The bot id is the part of the token before `:` (public; the secret part is never stored). */
export function botIdOf(token: string): string {
  return token.split(":")[0] || "bot";
}

export function tgKeys(botId: string): TgKeys {
  const root = ["tg", botId] as const;
  return {
    offset: [...root, "offset"],
    lease: [...root, "lease"],
    chat: (tgChatId) => [...root, "chat", String(tgChatId)],
    seen: (updateId) => [...root, "seen", updateId],
    outbox: [...root, "out"],
    out: (chatId, seq, part) => [...root, "out", chatId, seq, part],
    sent: (chatId, seq, part) => [...root, "sent", chatId, seq, part],
    cursor: (chatId) => [...root, "cur", chatId],
    dead: (direction, ...id) => [...root, "dead", direction, ...id],
  };
}

/** Keeps what could not be processed, with the reason, for an operator to look at. */
export async function deadLetter(
  kv: Deno.Kv,
  key: Deno.KvKey,
  value: Record<string, unknown>,
): Promise<void> {
  await kv.set(key, value, { expireIn: DEAD_TTL_MS });
}
