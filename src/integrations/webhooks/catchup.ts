/**
 * No chat event is lost between its commit and the webhook outbox.
 *
 * The intake's fast path is in memory, so a crash between a commit and the outbox write, a stop,
 * or an intake list that was full would drop events. Two records in KV close that window:
 *
 * - the chat's **feed mark** `["feed", chatId]` (actors/_session_writes.ts): the seq of its latest
 *   event, raised in the same atomic as every batch of session events (`Entity.seqMark`);
 * - the intake's **cursor** `["wh","cur",chatId]`: every event of the chat up to it has had its
 *   deliveries stored (or was wanted by no subscription).
 *
 * The fast path moves a cursor after storing a batch, only over events that continue it (a
 * checked write), so a gap it did not see stays behind the mark. The **catch-up** looks at the
 * marks every `pollMs` (and at start):
 *
 * - a mark at or behind its cursor is deleted (checked, so a newer commit keeps it);
 * - with no enabled subscription, the cursor just moves up to the mark: there is nothing to send;
 * - a cursor behind its mark that has not moved since the previous look is stale: the catch-up
 *   reads the events after it from the chat's log, stores their deliveries like the fast path
 *   (skipping events older than a subscription) and moves the cursor.
 *
 * Deliveries are deduplicated by their ids (one per subscription, chat and seq) against the
 * outbox, recent deliveries (`["wh","sent",id]`) and dead letters, so an event taken in twice
 * (fast path and catch-up racing, or two nodes looking at once) is sent once. Any node may catch
 * up any chat; every cursor write is checked against the value it read.
 */
import type { SessionEvent } from "../../../actors/_session_types.ts";
import { FEED_PREFIX } from "../../../actors/_session_writes.ts";
import type { Logger } from "../../log.ts";
import type { Clock, TimerId } from "../../runtime/clock.ts";
import type { Envelope } from "../../runtime/entity.ts";
import type { FeedEvent, Intake } from "./intake.ts";
import { K, type WebhookStore } from "./store.ts";

/** Reads a chat's stored events with seq > `afterSeq`, at most `limit`, in order. */
export type LogReader = (
  chatId: string,
  afterSeq: number,
  limit: number,
) => Promise<Envelope<SessionEvent>[]>;

/** Marks looked at per look (the listing goes on from there next time). */
const MARKS_PER_LOOK = 1_000;
/** Events read from logs per look, so one look stays short. */
const EVENTS_PER_LOOK = 5_000;
const PAGE = 256;
/** Cursors changed per atomic (a check and a write each; KV allows 100 checks). */
const PER_ATOMIC = 40;
/** Cursors the fast path remembers (least recently written dropped first). */
const CACHE_MAX = 10_000;

/** A cursor as read: its seq (0 when none is stored) and the versionstamp to check. */
export interface Cursor {
  readonly seq: number;
  readonly versionstamp: string | null;
}

/** The intake's cursors, with the fast path's cache of the ones it wrote. */
export class Cursors {
  readonly #kv: Deno.Kv;
  readonly #cache = new Map<string, Cursor>();

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** The stored cursors of `chatIds`. */
  async read(chatIds: readonly string[]): Promise<Map<string, Cursor>> {
    const out = new Map<string, Cursor>();
    for (let i = 0; i < chatIds.length; i += 10) {
      const ids = chatIds.slice(i, i + 10);
      const got = await this.#kv.getMany<number[]>(ids.map(K.cursor));
      ids.forEach((id, j) =>
        out.set(id, { seq: got[j].value ?? 0, versionstamp: got[j].versionstamp })
      );
    }
    return out;
  }

  /**
   * After the fast path stored `events`' deliveries: moves each chat's cursor over the run of
   * consecutive seqs that continues it. A chat whose run does not touch its cursor (events were
   * lost before) keeps it, for the catch-up.
   */
  async advance(events: readonly FeedEvent[]): Promise<void> {
    const runs = new Map<string, { from: number; to: number; broken: boolean }>();
    for (const e of events) {
      const r = runs.get(e.chatId);
      if (!r) runs.set(e.chatId, { from: e.seq, to: e.seq, broken: false });
      else if (!r.broken && e.seq === r.to + 1) r.to = e.seq;
      else r.broken = true;
    }
    // Unknown cursors, and remembered ones that seem to leave a gap (the catch-up may have
    // moved them since), are read from KV.
    const unsure = [...runs].filter(([id, r]) => (this.#cache.get(id)?.seq ?? -1) < r.from - 1);
    for (const [id, c] of await this.read(unsure.map(([id]) => id))) this.#remember(id, c);
    const moves: Array<{ chatId: string; from: Cursor; to: number }> = [];
    for (const [chatId, r] of runs) {
      const from = this.#cache.get(chatId)!;
      if (from.seq >= r.from - 1 && from.seq < r.to) moves.push({ chatId, from, to: r.to });
    }
    await this.move(moves);
  }

  /** Checked cursor writes; returns the cursors written, as they now are. */
  async move(
    moves: ReadonlyArray<{ chatId: string; from: Cursor; to: number }>,
  ): Promise<Map<string, Cursor>> {
    const done = new Map<string, Cursor>();
    for (let i = 0; i < moves.length; i += PER_ATOMIC) {
      const chunk = moves.slice(i, i + PER_ATOMIC);
      let op = this.#kv.atomic();
      for (const m of chunk) {
        op = op.check({ key: K.cursor(m.chatId), versionstamp: m.from.versionstamp })
          .set(K.cursor(m.chatId), m.to);
      }
      const res = await op.commit();
      for (const m of chunk) {
        // Refused: some cursor moved meanwhile; read them again when next needed.
        if (!res.ok) this.#cache.delete(m.chatId);
        else {
          const c = { seq: m.to, versionstamp: res.versionstamp };
          done.set(m.chatId, c);
          this.#remember(m.chatId, c);
        }
      }
    }
    return done;
  }

  #remember(chatId: string, c: Cursor): void {
    this.#cache.delete(chatId);
    this.#cache.set(chatId, c);
    if (this.#cache.size > CACHE_MAX) this.#cache.delete(this.#cache.keys().next().value!);
  }
}

export interface CatchUpOptions {
  readonly store: WebhookStore;
  readonly intake: Intake;
  readonly cursors: Cursors;
  readonly readLog: LogReader;
  readonly clock: Clock;
  readonly log: Logger;
  readonly pollMs: number;
  /** Deliveries were stored (wake the dispatcher). */
  readonly onStored: () => void;
}

interface Mark {
  readonly key: Deno.KvKey;
  readonly chatId: string;
  readonly seq: number;
  readonly versionstamp: string;
}

export class CatchUp {
  readonly #o: CatchUpOptions;
  /** Each chat's cursor at the previous look, if it was behind its mark then. */
  #behind = new Map<string, number>();
  #listCursor: string | undefined;
  #timer: TimerId | null = null;
  #looking: Promise<void> | null = null;
  #stopped = false;
  /** Events read back from logs and taken in (this process's lifetime). */
  caughtUp = 0;

  constructor(o: CatchUpOptions) {
    this.#o = o;
  }

  /** Looks once now, then every `pollMs`. */
  async start(): Promise<void> {
    await this.look();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
    await this.#looking;
  }

  /** One look at the marks (tests call it to step). Failures are logged and retried later. */
  look(): Promise<void> {
    this.#looking ??= this.#look()
      .catch((err) => this.#o.log.error("webhook catch-up failed; retrying", { error: err }))
      .finally(() => {
        this.#looking = null;
        if (this.#stopped) return;
        if (this.#timer !== null) this.#o.clock.clearTimeout(this.#timer);
        this.#timer = this.#o.clock.setTimeout(() => {
          this.#timer = null;
          void this.look();
        }, this.#o.pollMs);
      });
    return this.#looking;
  }

  async #look(): Promise<void> {
    const { store, cursors } = this.#o;
    const subs = await store.enabledSubscriptions();
    const marks = await this.#marks();
    const cur = await cursors.read(marks.map((m) => m.chatId));
    const done: Mark[] = [];
    const skip: Array<{ mark: Mark; from: Cursor }> = [];
    const behind = new Map<string, number>();
    let budget = EVENTS_PER_LOOK;
    for (const m of marks) {
      const c = cur.get(m.chatId)!;
      if (c.seq >= m.seq) done.push(m);
      else if (subs.length === 0) skip.push({ mark: m, from: c });
      else if (this.#behind.get(m.chatId) === c.seq && budget > 0 && !this.#stopped) {
        const { read, at } = await this.#replay(m, c, subs, budget);
        budget -= read;
        // Not there yet (the budget, or a page ahead of the mark): go on at the next look.
        if (at.seq < m.seq) behind.set(m.chatId, at.seq);
      } else behind.set(m.chatId, c.seq);
    }
    this.#behind = behind;
    for (let i = 0; i < done.length; i += PER_ATOMIC) {
      let op = store.kv.atomic();
      for (const m of done.slice(i, i + PER_ATOMIC)) op = op.check(m).delete(m.key);
      await op.commit();
    }
    // Nothing to send: move the cursors up to the marks and drop the marks, unless either
    // moved meanwhile (a commit, or a subscription's first events on the fast path).
    for (let i = 0; i < skip.length; i += PER_ATOMIC / 2) {
      let op = store.kv.atomic();
      for (const { mark, from } of skip.slice(i, i + PER_ATOMIC / 2)) {
        op = op.check(mark).check({ key: K.cursor(mark.chatId), versionstamp: from.versionstamp })
          .delete(mark.key).set(K.cursor(mark.chatId), mark.seq);
      }
      await op.commit();
    }
  }

  async #marks(): Promise<Mark[]> {
    const iter = this.#o.store.kv.list<Deno.KvU64>({ prefix: FEED_PREFIX }, {
      limit: MARKS_PER_LOOK,
      ...(this.#listCursor ? { cursor: this.#listCursor } : {}),
    });
    const out: Mark[] = [];
    for await (const e of iter) {
      out.push({
        key: e.key,
        chatId: e.key[1] as string,
        seq: Number(e.value.value),
        versionstamp: e.versionstamp,
      });
    }
    // A full page: go on from here next look; else start over.
    this.#listCursor = out.length === MARKS_PER_LOOK ? iter.cursor : undefined;
    return out;
  }

  /** Reads and takes in the events after a stale cursor: how many it read, where it got to. */
  async #replay(
    m: Mark,
    from: Cursor,
    subs: Awaited<ReturnType<WebhookStore["enabledSubscriptions"]>>,
    budget: number,
  ): Promise<{ read: number; at: Cursor }> {
    const { intake, cursors, readLog, log } = this.#o;
    let at = from;
    let read = 0;
    let stored = 0;
    while (at.seq < m.seq && read < budget) {
      const envs = await readLog(m.chatId, at.seq, Math.min(PAGE, budget - read));
      if (envs.length === 0) break;
      read += envs.length;
      const events = envs.map((e) => ({ chatId: m.chatId, seq: e.seq, at: e.at, event: e.event }));
      stored += await intake.take(events, subs, true);
      const to = envs[envs.length - 1].seq;
      const moved = (await cursors.move([{ chatId: m.chatId, from: at, to }])).get(m.chatId);
      // Another writer moved the cursor meanwhile: it is theirs now.
      if (!moved) break;
      at = moved;
    }
    this.caughtUp += read;
    if (read > 0) {
      log.info("webhook catch-up took in events from a chat's log", {
        chat: m.chatId,
        after: from.seq,
        to: at.seq,
        deliveries: stored,
      });
    }
    if (stored > 0) this.#o.onStored();
    return { read, at };
  }
}
