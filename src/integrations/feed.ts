/**
 * Following chats' stored events from an integration without losing any to a crash.
 *
 * Integrations hear of stored events in memory (`ChatService.onChatEvent`), so a crash between a
 * commit and the integration's own durable write (an outbox), a stop, or a full in-memory list
 * would drop events. Two small KV records per chat close that window:
 *
 * - a **feed mark** (`["feed", chatId]` for every chat, `["feed_ch", chatId]` for chats of an
 *   outside channel; actors/_session_writes.ts): the seq of the chat's latest event, raised in the
 *   same atomic as every batch of its events (`Entity.seqMarks`);
 * - the follower's **cursor** per chat: every event up to it has been taken in durably.
 *
 * The follower's fast path moves a cursor after its durable write, only over events that
 * continue it (a checked write, {@link Cursors.advance}), so a gap it did not see stays behind
 * the mark. The {@link CatchUp} looks at the marks every `pollMs` (and at start):
 *
 * - a mark at or behind its cursor is deleted (checked, so a newer commit keeps it);
 * - when nothing is wanted (e.g. no webhook subscription), the cursor moves up to the mark;
 * - a cursor behind its mark that has not moved since the previous look is stale: the events after
 *   it are read from the chat's log and handed to the follower's `take`, then the cursor moves.
 *
 * `take` must be idempotent (an event may be taken in twice: fast path and catch-up racing, or
 * two nodes looking at once); every cursor write is checked against the value it read. Each mark
 * prefix has exactly one follower, which owns the marks' deletion.
 */
import type { SessionEvent } from "../../actors/_session_types.ts";
import type { Logger } from "../log.ts";
import type { Clock, TimerId } from "../runtime/clock.ts";
import type { Envelope } from "../runtime/entity.ts";
import type { ChatEventNotice } from "../server/chat_service.ts";

/** A stored chat event, as the fast path gets it or the catch-up reads it from the log. */
export type FeedEvent = Pick<ChatEventNotice, "chatId" | "seq" | "at" | "event">;

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

/** A follower's cursors, with the fast path's cache of the ones it read or wrote. */
export class Cursors {
  readonly #kv: Deno.Kv;
  readonly #key: (chatId: string) => Deno.KvKey;
  readonly #cache = new Map<string, Cursor>();

  /** `key`: where a chat's cursor is stored (a number). */
  constructor(kv: Deno.Kv, key: (chatId: string) => Deno.KvKey) {
    this.#kv = kv;
    this.#key = key;
  }

  key(chatId: string): Deno.KvKey {
    return this.#key(chatId);
  }

  /** The KV the cursors are kept in (the marks' KV, or a follower's own, as search's). */
  get kv(): Deno.Kv {
    return this.#kv;
  }

  /** The stored cursors of `chatIds`. */
  async read(chatIds: readonly string[]): Promise<Map<string, Cursor>> {
    const out = new Map<string, Cursor>();
    for (let i = 0; i < chatIds.length; i += 10) {
      const ids = chatIds.slice(i, i + 10);
      const got = await this.#kv.getMany<number[]>(ids.map(this.#key));
      ids.forEach((id, j) =>
        out.set(id, { seq: got[j].value ?? 0, versionstamp: got[j].versionstamp })
      );
    }
    return out;
  }

  /**
   * After the fast path took `events` in durably: moves each chat's cursor over the run of
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
      // (Absent only if just dropped from a full cache: left to the catch-up.)
      const from = this.#cache.get(chatId);
      if (from && from.seq >= r.from - 1 && from.seq < r.to) moves.push({ chatId, from, to: r.to });
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
        op = op.check({ key: this.#key(m.chatId), versionstamp: m.from.versionstamp })
          .set(this.#key(m.chatId), m.to);
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

/** Takes in late events (idempotently); answers how many things it stored, for the log. */
export type Take = (events: readonly FeedEvent[]) => Promise<number>;

export interface CatchUpOptions {
  /** The KV of the marks (the chats' own); the cursors may be kept in another. */
  readonly kv: Deno.Kv;
  /** Names the follower in logs. */
  readonly name: string;
  /** The marks this follower owns (`["feed"]` or `["feed_ch"]`); keys are `[...prefix, chatId]`. */
  readonly marks: Deno.KvKey;
  readonly cursors: Cursors;
  readonly readLog: LogReader;
  /** How this look takes in events; null when nothing is wanted now (cursors just move up). */
  readonly prepare: () => Promise<Take | null>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly pollMs: number;
}

interface Mark {
  readonly key: Deno.KvKey;
  readonly chatId: string;
  readonly seq: number;
  readonly versionstamp: string;
}

export class CatchUp {
  readonly #o: CatchUpOptions;
  /** Each chat's cursor when it was last seen behind its mark (kept over a listing's pages). */
  #behind = new Map<string, number>();
  /** Chats listed since the listing last started over. */
  #listed = new Set<string>();
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
      .catch((err) => this.#o.log.error(`${this.#o.name} catch-up failed; retrying`, { err }))
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
    const { kv, cursors } = this.#o;
    const marks = await this.#marks();
    // (No marks, nothing to take: an idle node reads no subscriptions.)
    const take = marks.length ? await this.#o.prepare() : null;
    const cur = await cursors.read(marks.map((m) => m.chatId));
    const done: Mark[] = [];
    const skip: Array<{ mark: Mark; from: Cursor }> = [];
    const behind = this.#behind;
    let budget = EVENTS_PER_LOOK;
    for (const m of marks) {
      const c = cur.get(m.chatId)!;
      this.#listed.add(m.chatId);
      if (c.seq >= m.seq || !take) {
        behind.delete(m.chatId);
        if (c.seq >= m.seq) done.push(m);
        else skip.push({ mark: m, from: c });
      } else if (behind.get(m.chatId) === c.seq && budget > 0 && !this.#stopped) {
        const { read, at } = await this.#replay(m, c, take, budget);
        budget -= read;
        // Not there yet (the budget, or a page ahead of the mark): go on at the next look.
        if (at.seq < m.seq) behind.set(m.chatId, at.seq);
        else behind.delete(m.chatId);
      } else behind.set(m.chatId, c.seq);
    }
    if (this.#listCursor === undefined) {
      // The listing starts over: forget chats whose marks are gone.
      for (const id of behind.keys()) if (!this.#listed.has(id)) behind.delete(id);
      this.#listed = new Set();
    }
    for (let i = 0; i < done.length; i += PER_ATOMIC) {
      let op = kv.atomic();
      for (const m of done.slice(i, i + PER_ATOMIC)) op = op.check(m).delete(m.key);
      await op.commit();
    }
    // Nothing wanted: move the cursors up to the marks and drop the marks, unless either
    // moved meanwhile (a commit, or the fast path's first events once something is wanted).
    if (skip.length && cursors.kv !== kv) return await this.#skipApart(skip);
    for (let i = 0; i < skip.length; i += PER_ATOMIC / 2) {
      let op = kv.atomic();
      for (const { mark, from } of skip.slice(i, i + PER_ATOMIC / 2)) {
        const key = cursors.key(mark.chatId);
        op = op.check(mark).check({ key, versionstamp: from.versionstamp })
          .delete(mark.key).set(key, mark.seq);
      }
      await op.commit();
    }
  }

  /**
   * The skip when the cursors live in another KV than the marks (no atomic spans both): cursors
   * first, then the marks they reached. A crash between leaves a mark at or below its cursor,
   * which the next look drops as done.
   */
  async #skipApart(skip: ReadonlyArray<{ mark: Mark; from: Cursor }>): Promise<void> {
    const moved = await this.#o.cursors.move(
      skip.map(({ mark, from }) => ({ chatId: mark.chatId, from, to: mark.seq })),
    );
    const reached = skip.filter(({ mark }) => moved.has(mark.chatId)).map(({ mark }) => mark);
    for (let i = 0; i < reached.length; i += PER_ATOMIC) {
      let op = this.#o.kv.atomic();
      for (const m of reached.slice(i, i + PER_ATOMIC)) op = op.check(m).delete(m.key);
      await op.commit();
    }
  }

  async #marks(): Promise<Mark[]> {
    const iter = this.#o.kv.list<Deno.KvU64>({ prefix: this.#o.marks }, {
      limit: MARKS_PER_LOOK,
      ...(this.#listCursor ? { cursor: this.#listCursor } : {}),
    });
    const out: Mark[] = [];
    for await (const e of iter) {
      out.push({
        key: e.key,
        chatId: e.key[e.key.length - 1] as string,
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
    take: Take,
    budget: number,
  ): Promise<{ read: number; at: Cursor }> {
    const { cursors, readLog, log } = this.#o;
    let at = from;
    let read = 0;
    let stored = 0;
    while (at.seq < m.seq && read < budget) {
      const envs = await readLog(m.chatId, at.seq, Math.min(PAGE, budget - read));
      if (envs.length === 0) break;
      read += envs.length;
      const events = envs.map((e) => ({ chatId: m.chatId, seq: e.seq, at: e.at, event: e.event }));
      stored += await take(events);
      const to = envs[envs.length - 1].seq;
      const moved = (await cursors.move([{ chatId: m.chatId, from: at, to }])).get(m.chatId);
      // Another writer moved the cursor meanwhile: it is theirs now.
      if (!moved) break;
      at = moved;
    }
    this.caughtUp += read;
    if (read > 0) {
      log.info(`${this.#o.name} catch-up took in events from a chat's log`, {
        chat: m.chatId,
        after: from.seq,
        to: at.seq,
        stored,
      });
    }
    return { read, at };
  }
}
