// @ts-check
/**
 * The console's state, built from protocol frames: the waiting queue, offers (auto routing), the
 * operator's chats with their events, unread counts, read and typing state, and each chat's
 * staff side (internal notes and labels, on a stream of their own) and mentions of me. Dispatches
 * `change` after every update; the views re-render from it.
 *
 * The order of "my chats" follows activity: messages and routing events. A `read` is not
 * activity (opening a chat reports it read; that must not move the row under the cursor), nor
 * is a title found later.
 */

/** @typedef {import("../transports.js").Frame} Frame */
/**
 * @typedef {{ chat_id: string, client_id: string, priority: number, waiting_since: string,
 *   position?: number, expires_at?: string }} QueueEntry
 * @typedef {{ id: string, clientId: string, clientName: string,
 *   kind: "support" | "lawyer", status: "active" | "waiting" | "closed" | "gone",
 *   operatorId: string | null, events: Map<number, Frame>, readByMe: number, peerRead: number,
 *   peerTypingUntil: number, rating: { score: number, comment?: string } | null,
 *   lastActivity: number, mine: boolean, readonly: boolean, title: string, offline: boolean,
 *   linked: { chatId: string, by: string, reason: string } | null,
 *   channel: { kind: string, ref?: string, name?: string } | null,
 *   notes: Map<number, Frame>, labels: string[] }} ChatState
 * @typedef {{ chat_id: string, by: string, note_seq: number, text: string, at: number }} Mention
 */

/** Session events that are not activity: they do not move a chat up the list. */
const QUIET = new Set(["read", "chat_title", "chat_rated"]);

export class Store extends EventTarget {
  /** @type {{ user_id: string, role: string } | null} */
  me = null;
  /** @type {string} */
  myStatus = "online";
  /** Whether the frame applied last was a chat event older than the chat's newest (history). */
  lastWasHistory = false;
  /** @type {Map<string, QueueEntry>} */
  queue = new Map();
  /** Chats waiting beyond those listed (a snapshot lists at most the first 500). */
  queueUnlisted = 0;
  /** @type {Map<string, QueueEntry>} */
  offers = new Map();
  /** @type {Map<string, ChatState>} */
  chats = new Map();
  /** @type {string | null} */
  activeId = null;
  /** Notes that named me, newest first. @type {Mention[]} */
  mentions = [];
  /** Display names of staff (from events and the roster). @type {Map<string, string>} */
  names = new Map();
  /** Label shown in "my chats" only (empty: all). */
  labelFilter = "";
  #storageKey = "";

  /** Remembers which chats this operator has open (per tab), so a reload finds them again. */
  restore(/** @type {string} */ userId) {
    this.#storageKey = `supportchat.console.chats.${userId}`;
    try {
      const ids = JSON.parse(sessionStorage.getItem(this.#storageKey) ?? "[]");
      for (const id of Array.isArray(ids) ? ids : []) this.chat(String(id));
    } catch { /* nothing stored */ }
    return this.mine().map((c) => c.id);
  }

  #save() {
    if (!this.#storageKey) return;
    const ids = [...this.chats.values()].filter((c) => c.mine).map((c) => c.id);
    sessionStorage.setItem(this.#storageKey, JSON.stringify(ids));
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }

  /** This operator's chats (accepted, transferred to them, or restored), for the list. */
  mine() {
    return [...this.chats.values()].filter((c) => c.mine);
  }

  /** Every label on a chat this console knows, sorted. */
  allLabels() {
    const all = new Set();
    for (const c of this.chats.values()) for (const l of c.labels) all.add(l);
    return [...all].sort((a, b) => a.localeCompare(b));
  }

  /** A staff member's display name, or their id. */
  nameOf(/** @type {string} */ id) {
    return this.names.get(id) || id;
  }

  /**
   * The state of a chat, created empty if new. `mine`: the chat is (or was) this operator's and
   * belongs in the list; events of other chats are kept aside until one becomes mine.
   */
  chat(/** @type {string} */ id, mine = true) {
    let c = this.chats.get(id);
    if (c && mine && !c.mine) {
      c.mine = true;
      c.readonly = false;
      this.#save();
    }
    if (!c) {
      c = {
        id,
        clientId: "",
        clientName: "",
        kind: "support",
        status: "active",
        operatorId: null,
        events: new Map(),
        readByMe: 0,
        peerRead: 0,
        peerTypingUntil: 0,
        rating: null,
        lastActivity: 0,
        title: "",
        channel: null,
        offline: false,
        linked: null,
        notes: new Map(),
        labels: [],
        mine,
        readonly: !mine,
      };
      this.chats.set(id, c);
      this.#save();
    }
    return c;
  }

  dismiss(/** @type {string} */ id) {
    this.chats.delete(id);
    if (this.activeId === id) this.activeId = null;
    this.#save();
    this.changed();
  }

  /** Unread messages from the client in a chat. */
  unread(/** @type {ChatState} */ c) {
    let n = 0;
    for (const f of c.events.values()) {
      if (f.type === "message" && f.payload.sender_id !== this.me?.user_id) {
        if (f.payload.seq > c.readByMe) n++;
      }
    }
    return n;
  }

  /** The newest message not written by me (what `read` reports). */
  lastIncomingSeq(/** @type {ChatState} */ c) {
    let top = 0;
    for (const f of c.events.values()) {
      if (f.type === "message" && f.payload.sender_id !== this.me?.user_id) {
        top = Math.max(top, f.payload.seq);
      }
    }
    return top;
  }

  /** The newest message of a chat (the list's preview), or null. */
  lastMessage(/** @type {ChatState} */ c) {
    let last = null;
    for (const f of c.events.values()) {
      if (f.type === "message" && (!last || f.payload.seq > last.payload.seq)) last = f;
    }
    return last;
  }

  /** The client's first message (the queue's preview), or null. */
  firstClientMessage(/** @type {ChatState} */ c) {
    let first = null;
    for (const f of c.events.values()) {
      if (f.type !== "message" || f.payload.sender_role !== "client") continue;
      if (!first || f.payload.seq < first.payload.seq) first = f;
    }
    return first;
  }

  /**
   * Loads stored frames fetched over REST (a chat read but not followed: search results, a
   * mention, a lawyer's linked support chat). Live chats are not touched.
   * @param {string} chatId @param {Frame[]} frames
   */
  load(chatId, frames) {
    const c = this.chat(chatId, false);
    for (const f of frames) {
      if (f.type === "note" || f.type === "labels") this.#staff(f);
      else if (typeof f.payload?.seq === "number") this.#session(f);
    }
    this.changed();
    return c;
  }

  /**
   * Applies one frame. Returns the id of a chat that became mine (to load its history), if any.
   * @param {Frame} f
   * @returns {string | null}
   */
  apply(f) {
    const p = f.payload ?? {};
    let adopted = null;
    this.lastWasHistory = false;
    switch (f.type) {
      case "connected":
        this.me = { user_id: p.user_id, role: p.role };
        // The chats assigned to me right now, also those this tab has never seen.
        for (const id of p.open_chats ?? []) this.chat(id, true);
        break;
      case "queue_snapshot":
        this.queue = new Map(p.chats.map((/** @type {QueueEntry} */ c) => [c.chat_id, c]));
        this.queueUnlisted = Math.max(0, (p.total ?? p.chats.length) - p.chats.length);
        break;
      case "queue_delta":
        // The head's changes since the last view (docs/PROTOCOL.md#queue_delta); the list is
        // sorted when shown, so entries are only dropped and set.
        if (p.reset) this.queue = new Map();
        for (const r of p.removed) this.queue.delete(r.chat_id);
        for (const a of p.added) this.queue.set(a.chat_id, /** @type {QueueEntry} */ (a));
        this.queueUnlisted = Math.max(0, p.total - this.queue.size);
        break;
      case "new_chat_available":
        this.queue.set(p.chat_id, /** @type {QueueEntry} */ (p));
        break;
      case "chat_offered":
        this.offers.set(p.chat_id, /** @type {QueueEntry} */ (p));
        break;
      case "chat_removed":
        this.queue.delete(p.chat_id);
        this.offers.delete(p.chat_id);
        break;
      case "operator_status":
        if (p.operator_id === this.me?.user_id) this.myStatus = p.status;
        break;
      case "typing": {
        const c = this.chats.get(p.chat_id);
        if (c && p.user_id !== this.me?.user_id) {
          c.peerTypingUntil = p.is_typing ? Date.now() + 8000 : 0;
        }
        break;
      }
      case "note":
      case "labels":
        this.#staff(f);
        break;
      case "mention":
        if (!this.mentions.some((m) => m.chat_id === p.chat_id && m.note_seq === p.note_seq)) {
          this.mentions.unshift(/** @type {Mention} */ ({ ...p, at: Date.now() }));
        }
        break;
      default:
        if (typeof p.seq === "number" && p.chat_id && f.type !== "ack") {
          adopted = this.#session(f);
        }
    }
    this.changed();
    return adopted;
  }

  /** A frame of a chat's staff stream: a note, or the chat's labels now. @param {Frame} f */
  #staff(f) {
    const p = f.payload;
    const c = this.chats.get(p.chat_id) ?? this.chat(p.chat_id, false);
    if (f.type === "note") c.notes.set(p.seq, f);
    else {
      const newest = Math.max(0, ...[...c.notes.keys()]);
      c.notes.set(p.seq, f);
      if (p.seq >= newest) c.labels = [...p.labels];
    }
  }

  /** @param {Frame} f */
  #session(f) {
    const p = f.payload;
    const me = this.me?.user_id;
    const toMe = (f.type === "chat_assigned" && p.operator_id === me) ||
      (f.type === "chat_transferred" && p.to_operator_id === me);
    const wasMine = this.chats.get(p.chat_id)?.mine ?? false;
    const c = this.chat(p.chat_id, toMe);
    const newest = c.events.size === 0 || p.seq > Math.max(...c.events.keys());
    // Older than what the chat already showed: its history, loaded after a live event (the one
    // that made the chat mine comes first, then the history from 0).
    this.lastWasHistory = !newest;
    c.events.set(p.seq, f);
    if (newest) this.#evolve(c, f);
    else {
      // An older event (history arriving after live ones): rebuild the state in seq order.
      Object.assign(c, { status: "active", operatorId: null, rating: null, peerRead: 0 });
      for (const seq of [...c.events.keys()].sort((a, b) => a - b)) {
        this.#evolve(c, /** @type {Frame} */ (c.events.get(seq)));
      }
    }
    return toMe || (c.mine && !wasMine) ? c.id : null;
  }

  /** Applies one session event to a chat's state (events in seq order). */
  #evolve(/** @type {ChatState} */ c, /** @type {Frame} */ f) {
    const p = f.payload;
    const me = this.me?.user_id;
    if (!QUIET.has(f.type)) c.lastActivity = Math.max(c.lastActivity, Date.parse(p.timestamp) || 0);
    if (p.client_id) c.clientId = p.client_id;
    if (p.operator_name && p.operator_id) this.names.set(p.operator_id, p.operator_name);
    if (p.operator_name && p.to_operator_id) this.names.set(p.to_operator_id, p.operator_name);
    if (p.lawyer_name && p.lawyer_id) this.names.set(p.lawyer_id, p.lawyer_name);
    switch (f.type) {
      case "chat_created":
        if (p.channel) c.channel = p.channel;
        if (p.client_name) {
          c.clientName = p.client_name;
          // A lawyer chat names its client as the support chat it came from does.
          for (const o of this.chats.values()) {
            if (o.linked?.chatId === c.id && !o.clientName) o.clientName = p.client_name;
          }
        }
        c.kind = p.kind === "lawyer" ? "lawyer" : "support";
        c.offline = p.offline === true;
        if (p.linked_chat_id) {
          c.linked = { chatId: p.linked_chat_id, by: p.assigned_by ?? "", reason: p.reason ?? "" };
          c.clientName ||= this.chats.get(p.linked_chat_id)?.clientName ?? "";
        }
        break;
      case "chat_queued":
        c.status = "waiting";
        break;
      case "chat_assigned":
        c.operatorId = p.operator_id;
        c.status = p.operator_id === me ? "active" : c.mine ? "gone" : "active";
        break;
      case "chat_transferred":
        c.operatorId = p.to_queue ? null : p.to_operator_id;
        c.status = p.to_operator_id === me
          ? "active"
          : p.to_queue
          ? "waiting"
          : c.mine
          ? "gone"
          : "active";
        break;
      case "chat_closed":
        c.status = "closed";
        c.peerTypingUntil = 0;
        break;
      case "chat_title":
        c.title = p.title;
        break;
      case "chat_rated":
        c.rating = { score: p.score, comment: p.comment };
        break;
      case "read":
        if (p.user_id === me) c.readByMe = Math.max(c.readByMe, p.last_read_seq);
        else c.peerRead = Math.max(c.peerRead, p.last_read_seq);
        break;
      case "message":
        if (p.sender_id !== me) c.peerTypingUntil = 0;
        break;
    }
  }
}
