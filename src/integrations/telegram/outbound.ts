/**
 * Replies to Telegram: staff and bot messages of Telegram chats, and short notices (queued,
 * taken, passed on, closed), sent to the Telegram chat in the order they were stored. Each chat
 * has its own bounded queue, so a chat waiting out a 429 holds no other chat up. An item is
 * written to the KV outbox before it is sent and removed after, so replies left undelivered by a
 * stop or a crash are sent when this node starts again. Failures retry (429: `retry_after`;
 * 5xx, timeouts: exponential backoff); a 4xx (bot blocked, chat gone) or too many attempts move
 * the item to the dead letters.
 */
import type { Logger } from "../../log.ts";
import type { Clock } from "../../runtime/clock.ts";
import type { ChatEventNotice } from "../../server/chat_service.ts";
import { deadLetter, type TgKeys } from "./_kv.ts";
import { backoffMs, describe, isRetryable, sleep } from "./_retry.ts";
import { replyFor, splitText } from "./_texts.ts";
import type { SendMessage, TelegramApi } from "./api.ts";

export interface OutboundOptions {
  readonly api: Pick<TelegramApi, "sendMessage">;
  readonly kv: Deno.Kv;
  readonly keys: TgKeys;
  readonly clock: Clock;
  readonly log: Logger;
  readonly retryBaseMs: number;
  readonly maxAttempts: number;
  /** This node's name: after a restart it sends what its earlier run left in the outbox. */
  readonly node: string;
  /** Items one chat may have waiting; more go to the dead letters. */
  readonly perChatMax?: number;
  /** Items all chats together may have waiting. */
  readonly totalMax?: number;
  readonly onWait?: (w: { op: string; ms: number; error?: unknown }) => void;
}

/** One message to send (a long reply is several parts). */
export interface OutItem {
  readonly chatId: string;
  readonly seq: number;
  readonly part: number;
  /** The Telegram chat id. */
  readonly ref: string;
  readonly text: string;
  readonly keyboard?: readonly string[];
  readonly node: string;
}

interface Queued {
  readonly item: OutItem;
  /** The outbox write; the item is sent only after it. */
  readonly saved: Promise<void>;
}

export class Outbound {
  readonly #o: OutboundOptions;
  readonly #queues = new Map<string, Queued[]>();
  readonly #drains = new Set<Promise<void>>();
  readonly #ac = new AbortController();
  #total = 0;

  constructor(o: OutboundOptions) {
    this.#o = o;
  }

  /** Listener for `ChatService.onChatEvent`: queues what the event's Telegram user should get. */
  readonly onEvent = (n: ChatEventNotice): void => {
    const channel = n.view.channel;
    if (channel?.kind !== "telegram" || !channel.ref) return;
    const reply = replyFor(n.event);
    if (!reply) return;
    splitText(reply.text).forEach((text, part, all) => {
      const last = part === all.length - 1;
      this.push({
        chatId: n.chatId,
        seq: n.seq,
        part,
        ref: channel.ref!,
        text,
        ...(reply.keyboard && last ? { keyboard: reply.keyboard } : {}),
        node: this.#o.node,
      });
    });
  };

  /** Queues what this node's earlier run left undelivered (call once, at start). */
  async resume(): Promise<number> {
    let n = 0;
    for await (const e of this.#o.kv.list<OutItem>({ prefix: this.#o.keys.outbox })) {
      if (e.value.node !== this.#o.node) continue;
      this.push(e.value, false);
      n++;
    }
    return n;
  }

  /** Queues one item; `persist` writes it to the outbox first (resumed items are there). */
  push(item: OutItem, persist = true): void {
    if (this.#ac.signal.aborted) return;
    const q = this.#queues.get(item.chatId) ?? [];
    if (q.length >= (this.#o.perChatMax ?? 100) || this.#total >= (this.#o.totalMax ?? 10_000)) {
      this.#o.log.error("telegram outbox full; reply dead-lettered", { chat: item.chatId });
      void this.#dead(item, "outbox full");
      return;
    }
    const key = this.#o.keys.out(item.chatId, item.seq, item.part);
    const saved = persist
      ? this.#o.kv.set(key, item).then(() => {}, (err) => {
        this.#o.log.warn("telegram outbox write failed", { error: describe(err) });
      })
      : Promise.resolve();
    q.push({ item, saved });
    this.#total++;
    if (q.length === 1) {
      this.#queues.set(item.chatId, q);
      const drain = this.#drain(item.chatId, q).finally(() => this.#drains.delete(drain));
      this.#drains.add(drain);
    }
  }

  /** Waiting items, all chats (metrics, tests). */
  get pending(): number {
    return this.#total;
  }

  /** Stops sending; what is not delivered stays in the outbox for the next start. */
  async stop(): Promise<void> {
    this.#ac.abort(new Error("outbound stopped"));
    await Promise.all([...this.#drains]);
  }

  async #drain(chatId: string, q: Queued[]): Promise<void> {
    while (q.length > 0) {
      const { item, saved } = q[0];
      await saved;
      if (!(await this.#deliver(item))) return; // stopped: the outbox keeps it
      q.shift();
      this.#total--;
      await this.#o.kv.delete(this.#o.keys.out(item.chatId, item.seq, item.part)).catch(() => {});
    }
    this.#queues.delete(chatId);
  }

  /** Sends with retries; false only when stopped before it was sent or given up. */
  async #deliver(item: OutItem): Promise<boolean> {
    const signal = this.#ac.signal;
    for (let attempt = 0;; attempt++) {
      if (signal.aborted) return false;
      try {
        await this.#o.api.sendMessage(message(item), signal);
        return true;
      } catch (err) {
        if (signal.aborted) return false;
        if (!isRetryable(err) || attempt + 1 >= this.#o.maxAttempts) {
          this.#o.log.error("telegram reply not delivered; dead-lettered", {
            chat: item.chatId,
            seq: item.seq,
            error: describe(err),
          });
          await this.#dead(item, describe(err));
          return true;
        }
        const ms = backoffMs(err, attempt, this.#o.retryBaseMs);
        this.#o.onWait?.({ op: "sendMessage", ms, error: err });
        await sleep(this.#o.clock, ms, signal);
      }
    }
  }

  async #dead(item: OutItem, error: string): Promise<void> {
    const key = this.#o.keys.dead("out", item.chatId, item.seq, item.part);
    await deadLetter(this.#o.kv, key, { item, error }).catch(() => {});
  }
}

function message(item: OutItem): SendMessage {
  const m: SendMessage = { chat_id: item.ref, text: item.text };
  if (item.keyboard?.length) {
    m.reply_markup = {
      keyboard: item.keyboard.map((text) => [{ text }]),
      one_time_keyboard: true,
      resize_keyboard: true,
    };
  }
  return m;
}
