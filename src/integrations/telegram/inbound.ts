/**
 * Telegram updates into chats. A Telegram chat writes into one chat at a time (its *link* in KV):
 * the first message opens a chat, queued like any other, and the next message after that chat is
 * closed opens a new one. Each message is stored as the client's, with `client_msg_id`
 * `tg-<update_id>`, so a redelivered update is recognised by the session itself; a processed
 * update id is also remembered in KV, which catches redeliveries that arrive after a chat change.
 */
import type { Channel } from "../../../actors/session.ts";
import type { Principal } from "../../auth/principal.ts";
import { AppError } from "../../errors.ts";
import type { Clock } from "../../runtime/clock.ts";
import type { ChatService } from "../../server/chat_service.ts";
import { type ChatLink, SEEN_TTL_MS, type SeenUpdate, type TgKeys } from "./_kv.ts";
import { displayName, messageText, type TgMessage, type TgUpdate } from "./_schema.ts";

export interface InboundOptions {
  readonly svc: Pick<ChatService, "createChat" | "sendMessage">;
  readonly kv: Deno.Kv;
  readonly keys: TgKeys;
  readonly clock: Clock;
  readonly maxTextLength: number;
}

export type InboundResult =
  | { status: "stored"; chatId: string; seq: number }
  | { status: "duplicate"; chatId?: string; seq?: number }
  | { status: "ignored" };

/** How often a link race (another node opening a chat for the same Telegram chat) is retried. */
const LINK_ATTEMPTS = 5;

export class Inbound {
  readonly #o: InboundOptions;

  constructor(o: InboundOptions) {
    this.#o = o;
  }

  /**
   * Stores one update's message. Resolves once it is stored (or known as a duplicate); throws
   * an `AppError` (retryable or not) when it could not be stored.
   */
  async handle(u: TgUpdate): Promise<InboundResult> {
    const { kv, keys } = this.#o;
    const seen = await kv.get<SeenUpdate>(keys.seen(u.update_id));
    if (seen.value) return { status: "duplicate", chatId: seen.value.chatId, seq: seen.value.seq };
    // Only messages open or continue chats; other updates are acknowledged and skipped.
    const result: InboundResult = u.message
      ? await this.#store(u.update_id, u.message)
      : { status: "ignored" };
    const record: SeenUpdate = result.status === "ignored"
      ? { at: this.#o.clock.now() }
      : { chatId: result.chatId, seq: result.seq, at: this.#o.clock.now() };
    await kv.set(keys.seen(u.update_id), record, { expireIn: SEEN_TTL_MS });
    return result;
  }

  async #store(updateId: number, m: TgMessage): Promise<InboundResult> {
    const { kv, keys } = this.#o;
    const text = messageText(m, this.#o.maxTextLength);
    const channel: Channel = {
      kind: "telegram",
      ref: String(m.chat.id),
      name: displayName(m.chat, m.from),
    };
    const msgId = `tg-${updateId}`;
    for (let attempt = 0; attempt < LINK_ATTEMPTS; attempt++) {
      const link = await kv.get<ChatLink>(keys.chat(m.chat.id));
      if (link.value) {
        const stored = await this.#send(link.value, channel, text, msgId);
        if (stored) return stored;
      }
      // No chat yet, or it is closed: open one. The id comes from the update, so a redelivery
      // of this update after a crash opens the same chat, not a second one.
      const next: ChatLink = {
        chatId: `tg-${m.chat.id}-${updateId}${attempt ? `-${attempt}` : ""}`,
        clientId: `tg-${m.chat.id}`,
        name: channel.name!,
      };
      const claimed = await kv.atomic().check(link).set(keys.chat(m.chat.id), next).commit();
      if (!claimed.ok) continue; // another node linked a chat meanwhile: write into that one
      await this.#o.svc.createChat(next.clientId, next.chatId, { channel });
      const stored = await this.#send(next, channel, text, msgId);
      if (stored) return stored;
    }
    throw new AppError("unavailable", `Telegram chat ${m.chat.id} kept switching chats; retry`);
  }

  /** Stores the message in the linked chat as its client's; null when that chat is closed. */
  async #send(
    link: ChatLink,
    channel: Channel,
    text: string,
    msgId: string,
    created = false,
  ): Promise<InboundResult | null> {
    const client: Principal = {
      id: link.clientId,
      role: "client",
      scope: "chat",
      chatId: link.chatId,
      expiresAt: Number.POSITIVE_INFINITY,
    };
    try {
      const r = await this.#o.svc.sendMessage(client, link.chatId, text, msgId);
      return { status: r.duplicate ? "duplicate" : "stored", chatId: link.chatId, seq: r.seq };
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      if (err.code === "chat_closed") return null;
      // The client id always matches its link, so `forbidden` means the chat does not exist:
      // the link was written and then the process stopped before the chat was created.
      if (err.code === "forbidden" && !created) {
        await this.#o.svc.createChat(link.clientId, link.chatId, { channel });
        return await this.#send(link, channel, text, msgId, true);
      }
      throw err;
    }
  }
}
