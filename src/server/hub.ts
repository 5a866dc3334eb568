/**
 * The connection hub: which connection follows which chat, and gap-free delivery.
 *
 * Each (connection, chat) subscription remembers the last `seq` it delivered. A live event with
 * the next seq is sent at once; an older one is a duplicate and dropped; a newer one means a gap,
 * which is filled from the stored log (every live event is stored before it is published, so the
 * log always has what is missing). A resume replays the log after the client's last seq while
 * live events are held back, then releases them in order: no gap, no duplicate.
 */
import {
  isStaff,
  keyOf,
  type Principal,
  staffKey,
  type StaffRole,
  type UserKey,
} from "../auth/principal.ts";
import type { OutboundFrame } from "../protocol/mod.ts";
import { isStaffStream } from "./streams.ts";

/** A view of the queue (head and counts) a connection holds (src/server/_queue_view_diff.ts). */
export interface QueueViewBase {
  readonly total: number;
  readonly active: number;
  readonly head: readonly { readonly chat_id: string }[];
}

export interface Connection {
  readonly id: string;
  readonly principal: Principal;
  /** Identifies the token the connection opened with. */
  readonly tokenKey: string;
  /** `ws`, `sse` or `socketio` (the metrics' label); `ws` when unset. */
  readonly transport?: string;
  /**
   * Queues a frame for the peer. Must not throw. `text` is the frame already serialized as JSON,
   * when the caller has it (one event sent to many connections is serialized once).
   */
  send(frame: OutboundFrame, text?: string): void;
  /** Resolves when the peer has read enough of what was sent (replays wait on it). */
  drained?(): Promise<void>;
  close(code: number, reason: string): void;
}

export interface StoredFrame {
  readonly seq: number;
  readonly frame: OutboundFrame;
}

/**
 * Reads stored session frames with seq > afterSeq, at most `limit`. `wanted` is asked again when
 * the read's turn comes (reads are bounded per node): false then, and nothing is read.
 */
export type FrameReader = (
  chatId: string,
  afterSeq: number,
  limit: number,
  wanted: () => boolean,
) => Promise<StoredFrame[]>;

interface Subscription {
  lastSeq: number;
  replaying: boolean;
  held: Map<number, OutboundFrame>;
  /** A live frame was dropped because `held` was full; the replay must read the log further. */
  dropped: boolean;
  /** The replay under way, while `replaying`. */
  replay: Promise<void> | null;
}

interface ConnState {
  readonly conn: Connection;
  readonly subs: Map<string, Subscription>;
  closed: boolean;
}

const PAGE = 200;
/** Close code when a connection's catch-up from the log fails (the client should resume). */
export const CLOSE_REPLAY_FAILED = 1011;
/** Live frames held during a replay beyond this are dropped; the replay re-reads them. */
const MAX_HELD = 2000;

export class Hub {
  readonly #read: FrameReader;
  readonly #conns = new Map<string, ConnState>();
  readonly #byChat = new Map<string, Set<string>>();
  /** Connections by user: kind and id together (`c:…`, `s:…`), never the id alone. */
  readonly #byUser = new Map<UserKey, Set<string>>();
  /** Staff connections and their role. */
  readonly #staff = new Map<string, StaffRole>();
  /** Client connections per chat (their queue places are tracked). */
  readonly #clientChats = new Map<string, number>();
  /** Connections shown the queue, and how (see `watchQueue`). */
  readonly #queueWatchers = new Map<string, { delta: boolean; since: QueueViewBase | null }>();
  peakConnections = 0;

  constructor(read: FrameReader) {
    this.#read = read;
  }

  add(conn: Connection): void {
    this.#conns.set(conn.id, { conn, subs: new Map(), closed: false });
    addTo(this.#byUser, keyOf(conn.principal), conn.id);
    if (isStaff(conn.principal.role)) this.#staff.set(conn.id, conn.principal.role);
    const chat = clientChat(conn.principal);
    if (chat) this.#clientChats.set(chat, (this.#clientChats.get(chat) ?? 0) + 1);
    this.peakConnections = Math.max(this.peakConnections, this.#conns.size);
  }

  /** Forgets a connection; safe to call more than once. Returns false if it was gone. */
  remove(connId: string): boolean {
    const st = this.#conns.get(connId);
    if (!st) return false;
    st.closed = true;
    this.#conns.delete(connId);
    for (const chatId of st.subs.keys()) removeFrom(this.#byChat, chatId, connId);
    removeFrom(this.#byUser, keyOf(st.conn.principal), connId);
    this.#staff.delete(connId);
    this.#queueWatchers.delete(connId);
    const chat = clientChat(st.conn.principal);
    if (chat) {
      const n = (this.#clientChats.get(chat) ?? 1) - 1;
      if (n > 0) this.#clientChats.set(chat, n);
      else this.#clientChats.delete(chat);
    }
    return true;
  }

  /** The staff role of a live connection of staff member `staffId` on this node, if any. */
  staffRoleOf(staffId: string): StaffRole | undefined {
    for (const connId of this.#byUser.get(staffKey(staffId)) ?? []) {
      const role = this.#staff.get(connId);
      if (role) return role;
    }
    return undefined;
  }

  /** The chats that have a client connected to this node. */
  clientChatIds(): string[] {
    return [...this.#clientChats.keys()];
  }

  /** Open connections of one user on this node. */
  connectionsOf(user: UserKey): number {
    return this.#byUser.get(user)?.size ?? 0;
  }

  /** Open connections by `transport/role` (`ws/client`, `sse/operator`, …). */
  countByTransport(): Map<string, number> {
    const out = new Map<string, number>();
    for (const { conn } of this.#conns.values()) {
      const k = `${conn.transport ?? "ws"}/${conn.principal.role}`;
      out.set(k, (out.get(k) ?? 0) + 1);
    }
    return out;
  }

  countByRole(): Record<string, number> {
    const out: Record<string, number> = { client: 0, operator: 0, lawyer: 0, admin: 0 };
    for (const st of this.#conns.values()) out[st.conn.principal.role]++;
    return out;
  }

  get size(): number {
    return this.#conns.size;
  }

  isSubscribed(connId: string, chatId: string): boolean {
    return this.#conns.get(connId)?.subs.has(chatId) ?? false;
  }

  /** Follows a chat live from `lastSeq` on (events after it are delivered, with gap repair). */
  subscribe(connId: string, chatId: string, lastSeq: number): void {
    const st = this.#conns.get(connId);
    if (!st || st.subs.has(chatId) || !mayFollow(st.conn, chatId)) return;
    st.subs.set(chatId, {
      lastSeq,
      replaying: false,
      held: new Map(),
      dropped: false,
      replay: null,
    });
    addTo(this.#byChat, chatId, connId);
  }

  /** Every connection of `user` follows the chat from `lastSeq`. */
  subscribeUser(user: UserKey, chatId: string, lastSeq: number): void {
    for (const connId of this.#byUser.get(user) ?? []) this.subscribe(connId, chatId, lastSeq);
  }

  /**
   * Every connection of `user` follows the chat and catches up from `lastSeq`. A connection that
   * follows it already goes on as it is (it has every event so far, in order; going back would
   * send them again after later ones).
   */
  resumeUser(user: UserKey, chatId: string, lastSeq: number): void {
    for (const connId of this.#byUser.get(user) ?? []) {
      if (this.isSubscribed(connId, chatId)) continue;
      this.resume(connId, chatId, lastSeq).catch(() => {});
    }
  }

  /** Stops every connection of the chat whose principal `drop` selects from following it. */
  unsubscribeWhere(chatId: string, drop: (p: Principal) => boolean): void {
    for (const connId of [...(this.#byChat.get(chatId) ?? [])]) {
      const st = this.#conns.get(connId);
      if (!st || !drop(st.conn.principal)) continue;
      st.subs.delete(chatId);
      removeFrom(this.#byChat, chatId, connId);
    }
  }

  /**
   * Sends every stored event after `lastSeq`, then continues live. Resolves with the last seq
   * delivered once the connection is caught up.
   */
  async resume(connId: string, chatId: string, lastSeq: number): Promise<number> {
    const st = this.#conns.get(connId);
    if (!st || !mayFollow(st.conn, chatId)) return lastSeq;
    let sub = st.subs.get(chatId);
    if (!sub) {
      sub = { lastSeq, replaying: false, held: new Map(), dropped: false, replay: null };
      st.subs.set(chatId, sub);
      addTo(this.#byChat, chatId, connId);
    } else {
      // A replay under way (another resume, a gap repair) ends first, so this call resolves
      // only once caught up. Then deliver again from the point asked for (the client asked).
      while (sub.replay) await sub.replay;
      if (st.closed || st.subs.get(chatId) !== sub) return sub.lastSeq;
      sub.lastSeq = lastSeq;
    }
    await this.#catchUp(st, chatId, sub);
    return sub.lastSeq;
  }

  /** A stored session event, to every follower of the chat. */
  publish(chatId: string, seq: number, frame: OutboundFrame): void {
    let text: string | undefined;
    for (const connId of this.#byChat.get(chatId) ?? []) {
      const st = this.#conns.get(connId);
      const sub = st?.subs.get(chatId);
      if (!st || !sub) continue;
      if (sub.replaying) {
        if (seq <= sub.lastSeq) continue;
        if (sub.held.size < MAX_HELD) sub.held.set(seq, frame);
        else sub.dropped = true;
        continue;
      }
      if (seq <= sub.lastSeq) continue;
      if (seq === sub.lastSeq + 1) {
        sub.lastSeq = seq;
        st.conn.send(frame, text ??= JSON.stringify(frame));
        continue;
      }
      sub.held.set(seq, frame);
      void this.#catchUp(st, chatId, sub);
    }
  }

  /** A frame that is not stored (typing), to every follower except `exceptConnId`. */
  broadcast(chatId: string, frame: OutboundFrame, exceptConnId?: string): void {
    const text = JSON.stringify(frame);
    for (const connId of this.#byChat.get(chatId) ?? []) {
      if (connId !== exceptConnId) this.#conns.get(connId)?.conn.send(frame, text);
    }
  }

  /** To every staff connection whose role is in `roles` (default: every staff role). */
  toStaff(frame: OutboundFrame, roles?: readonly StaffRole[]): void {
    const text = JSON.stringify(frame);
    for (const [connId, role] of this.#staff) {
      if (!roles || roles.includes(role)) this.#conns.get(connId)?.conn.send(frame, text);
    }
  }

  /**
   * From now on the connection is shown the queue (it was just sent a `queue_snapshot`): its
   * changes, as `queue_delta` frames when `delta`, else legacy frames. `since`: the view its
   * snapshot showed, when that is not the view this node showed last (the next changes are
   * then worked out for it alone, once).
   */
  watchQueue(connId: string, delta: boolean, since: QueueViewBase | null): void {
    if (this.#conns.has(connId)) this.#queueWatchers.set(connId, { delta, since });
  }

  /**
   * One new view of the queue: `delta` to connections that take it, `legacy` to the rest, each
   * serialized once; connections whose snapshot was another view get `from(their view)`.
   */
  toQueueWatchers(
    delta: OutboundFrame | null,
    legacy: readonly OutboundFrame[],
    from: (since: QueueViewBase) => { delta: OutboundFrame | null; legacy: OutboundFrame[] },
  ): void {
    let deltaText: string | undefined;
    let legacyTexts: string[] | undefined;
    for (const [connId, w] of this.#queueWatchers) {
      const conn = this.#conns.get(connId)?.conn;
      if (!conn) continue;
      if (w.since) {
        const own = from(w.since);
        w.since = null;
        if (w.delta) {
          if (own.delta) conn.send(own.delta);
        } else for (const f of own.legacy) conn.send(f);
      } else if (w.delta) {
        if (delta) conn.send(delta, deltaText ??= JSON.stringify(delta));
      } else if (legacy.length) {
        legacyTexts ??= legacy.map((f) => JSON.stringify(f));
        legacy.forEach((f, i) => conn.send(f, legacyTexts![i]));
      }
    }
  }

  toUser(user: UserKey, frame: OutboundFrame): void {
    for (const connId of this.#byUser.get(user) ?? []) this.#conns.get(connId)?.conn.send(frame);
  }

  /** Closes every connection (shutdown). */
  closeAll(code: number, reason: string): void {
    for (const st of [...this.#conns.values()]) st.conn.close(code, reason);
  }

  #catchUp(st: ConnState, chatId: string, sub: Subscription): Promise<void> {
    if (sub.replaying) return sub.replay ?? Promise.resolve();
    const run = this.#replay(st, chatId, sub);
    if (sub.replaying) sub.replay = run; // else it already finished
    return run;
  }

  async #replay(st: ConnState, chatId: string, sub: Subscription): Promise<void> {
    sub.replaying = true;
    let stalls = 0;
    // Stop once the connection is gone or no longer follows the chat (it was unsubscribed).
    const following = () => !st.closed && st.subs.get(chatId) === sub;
    try {
      while (following()) {
        const before = sub.lastSeq;
        let page: StoredFrame[];
        try {
          page = await this.#read(chatId, sub.lastSeq, PAGE, following);
        } catch {
          // The log cannot be read now (storage error, overload): this connection cannot be
          // kept gap-free, so close it; the client reconnects and resumes from its last seq.
          st.conn.close(CLOSE_REPLAY_FAILED, "replay_failed");
          break;
        }
        for (const { seq, frame } of page) {
          if (!following() || seq !== sub.lastSeq + 1) continue;
          sub.lastSeq = seq;
          st.conn.send(frame);
          // Stored history goes at the reader's pace (live frames keep the slow-consumer rule).
          if (st.conn.drained) await st.conn.drained();
        }
        if (page.length === PAGE) continue;
        if (!following()) break;
        for (let f = sub.held.get(sub.lastSeq + 1); f; f = sub.held.get(sub.lastSeq + 1)) {
          sub.held.delete(sub.lastSeq + 1);
          sub.lastSeq++;
          st.conn.send(f);
        }
        for (const seq of sub.held.keys()) if (seq <= sub.lastSeq) sub.held.delete(seq);
        if (sub.held.size === 0) {
          // Frames dropped while the hold was full are in the log: read on before finishing.
          if (!sub.dropped) break;
          sub.dropped = false;
          continue;
        }
        // Held frames beyond a hole the log cannot fill (should not happen: publish follows
        // the write). After a few tries deliver them rather than hold the chat forever.
        stalls = sub.lastSeq === before ? stalls + 1 : 0;
        if (stalls >= 3) {
          for (const seq of [...sub.held.keys()].sort((a, b) => a - b)) {
            st.conn.send(sub.held.get(seq)!);
            sub.lastSeq = seq;
          }
          sub.held.clear();
        }
      }
    } finally {
      sub.replaying = false;
      sub.replay = null;
    }
  }
}

/** A chat's staff stream (notes, labels) is never followed by a client connection. */
function mayFollow(conn: Connection, key: string): boolean {
  return !isStaffStream(key) || isStaff(conn.principal.role);
}
const clientChat = (p: Principal) => (p.role === "client" ? p.chatId : undefined);

function addTo<K>(map: Map<K, Set<string>>, key: K, value: string): void {
  let set = map.get(key);
  if (!set) map.set(key, set = new Set());
  set.add(value);
}

function removeFrom<K>(map: Map<K, Set<string>>, key: K, value: string): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
