/**
 * Replies to Telegram: staff and bot messages of Telegram chats, and short notices (queued,
 * taken, passed on, closed), sent to the Telegram chat in the order they were stored. Each chat
 * has its own bounded queue, so a chat waiting out a 429 holds no other chat up. An item is
 * written to the KV outbox before it is sent and removed after, so replies left undelivered by a
 * stop or a crash are sent when this node starts again. Failures retry (429: `retry_after`;
 * 5xx, timeouts: exponential backoff); a 4xx (bot blocked, chat gone) or too many attempts move
 * the item to the dead letters.
 *
 * Events whose notice never got here (a crash between the commit and the outbox write) are read
 * back from the chat's log by the catch-up (src/integrations/feed.ts, `takeLate`): once an
 * event's items are in the outbox, its chat's cursor moves past it. A sent item is remembered for
 * a week, so an event taken in twice is not sent twice.
 */
import type { Logger } from "../../log.ts";
import type { Clock } from "../../runtime/clock.ts";
import type { Channel } from "../../../actors/_session_types.ts";
import type { ChatEventNotice } from "../../server/chat_service.ts";
import type { Cursors, FeedEvent } from "../feed.ts";
import { deadLetter, SENT_TTL_MS, type TgKeys } from "./_kv.ts";
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
  /** The outbound's cursors (`keys.cursor`); without them no cursor moves (sending alone). */
  readonly cursors?: Cursors;
  /** A chat's channel, for events read back from its log (a notice carries the chat's view). */
  readonly channelOf?: (chatId: string) => Promise<Channel | undefined>;
}

/** Events waiting for their outbox writes before their cursors move; more are left behind. */
const FOLLOW_MAX = 10_000;

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
  /** The outbox write (false: it failed); the item is sent only after it. */
  readonly saved: Promise<boolean>;
}

export class Outbound {
  readonly #o: OutboundOptions;
  readonly #queues = new Map<string, Queued[]>();
  readonly #drains = new Set<Promise<void>>();
  readonly #ac = new AbortController();
  #total = 0;
  #follow: Array<{ event: FeedEvent; saved: Promise<boolean>[] }> = [];
  #following: Promise<void> | null = null;

  constructor(o: OutboundOptions) {
    this.#o = o;
  }

  /** Listener for `ChatService.onChatEvent`: queues what the event's Telegram user should get. */
  readonly onEvent = (n: ChatEventNotice): void => {
    const channel = n.view.channel;
    if (channel?.kind !== "telegram" || !channel.ref) return;
    this.#followed(n, this.#itemsOf(n, channel.ref).map((item) => this.push(item)));
  };

  /**
   * The catch-up's take: the items of events whose notices were lost, each written to the outbox
   * and queued unless it is there already or was sent lately. Answers how many it queued.
   */
  readonly takeLate = async (events: readonly FeedEvent[]): Promise<number> => {
    const { kv, keys } = this.#o;
    const refs = new Map<string, string | null>();
    let queued = 0;
    for (const e of events) {
      if (!refs.has(e.chatId)) {
        const ch = await this.#o.channelOf?.(e.chatId);
        refs.set(e.chatId, ch?.kind === "telegram" && ch.ref ? ch.ref : null);
      }
      const ref = refs.get(e.chatId);
      if (!ref) continue;
      for (const item of this.#itemsOf(e, ref)) {
        const out = keys.out(item.chatId, item.seq, item.part);
        const res = await kv.atomic()
          .check({ key: out, versionstamp: null })
          .check({ key: keys.sent(item.chatId, item.seq, item.part), versionstamp: null })
          .set(out, item)
          .commit();
        if (!res.ok) continue;
        void this.push(item, false);
        queued++;
      }
    }
    return queued;
  };

  #itemsOf(n: FeedEvent, ref: string): OutItem[] {
    const reply = replyFor(n.event);
    if (!reply) return [];
    return splitText(reply.text).map((text, part, all) => ({
      chatId: n.chatId,
      seq: n.seq,
      part,
      ref,
      text,
      ...(reply.keyboard && part === all.length - 1 ? { keyboard: reply.keyboard } : {}),
      node: this.#o.node,
    }));
  }

  /** Moves the chat's cursor past `event` once its items are in the outbox. */
  #followed(event: FeedEvent, saved: Promise<boolean>[]): void {
    if (!this.#o.cursors || this.#ac.signal.aborted) return;
    // Past the bound the event is left to the catch-up (its cursor stays behind).
    if (this.#follow.length >= FOLLOW_MAX) return;
    this.#follow.push({ event, saved });
    this.#kickFollow(this.#o.cursors);
  }

  #kickFollow(cursors: Cursors): void {
    if (this.#following) return;
    this.#following = this.#advance(cursors).finally(() => {
      this.#following = null;
      if (this.#follow.length && !this.#ac.signal.aborted) this.#kickFollow(cursors);
    });
  }

  async #advance(cursors: Cursors): Promise<void> {
    while (this.#follow.length) {
      const batch = this.#follow.splice(0, 256);
      const taken: FeedEvent[] = [];
      for (const f of batch) if ((await Promise.all(f.saved)).every(Boolean)) taken.push(f.event);
      // An event whose write failed breaks its chat's run: the cursor stays before it.
      await cursors.advance(taken).catch((err) =>
        this.#o.log.warn("telegram cursor write failed", { err: describe(err) })
      );
    }
  }

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

  /**
   * Queues one item; `persist` writes it to the outbox first (resumed items are there). Resolves
   * once it is stored (true), as a dead letter too, or when the write failed (false).
   */
  push(item: OutItem, persist = true): Promise<boolean> {
    if (this.#ac.signal.aborted) return Promise.resolve(false);
    const q = this.#queues.get(item.chatId) ?? [];
    if (q.length >= (this.#o.perChatMax ?? 100) || this.#total >= (this.#o.totalMax ?? 10_000)) {
      this.#o.log.error("telegram outbox full; reply dead-lettered", { chat: item.chatId });
      return this.#dead(item, "outbox full").then(() => true);
    }
    const key = this.#o.keys.out(item.chatId, item.seq, item.part);
    const saved = persist
      ? this.#o.kv.set(key, item).then(() => true, (err) => {
        this.#o.log.warn("telegram outbox write failed", { err: describe(err) });
        return false;
      })
      : Promise.resolve(true);
    q.push({ item, saved });
    this.#total++;
    if (q.length === 1) {
      this.#queues.set(item.chatId, q);
      const drain = this.#drain(item.chatId, q).finally(() => this.#drains.delete(drain));
      this.#drains.add(drain);
    }
    return saved;
  }

  /** Waiting items, all chats (metrics, tests). */
  get pending(): number {
    return this.#total;
  }

  /** Stops sending; what is not delivered stays in the outbox for the next start. */
  async stop(): Promise<void> {
    this.#ac.abort(new Error("outbound stopped"));
    await Promise.all([...this.#drains]);
    await this.#following;
  }

  async #drain(chatId: string, q: Queued[]): Promise<void> {
    while (q.length > 0) {
      const { item, saved } = q[0];
      await saved;
      if (!(await this.#deliver(item))) return; // stopped: the outbox keeps it
      const { kv, keys, clock } = this.#o;
      await kv.atomic()
        .delete(keys.out(item.chatId, item.seq, item.part))
        .set(keys.sent(item.chatId, item.seq, item.part), clock.now(), { expireIn: SENT_TTL_MS })
        .commit()
        .catch(() => {});
      // Only now, with no await before the loop's test: while the queue holds an item, a push
      // joins this drain instead of starting a second one on the same queue (which sent twice).
      q.shift();
      this.#total--;
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
