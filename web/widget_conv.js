// @ts-check
/**
 * One conversation of the widget — the support chat, or the chat with the client's lawyer: its
 * connection (a chat token opens one chat, so each has its own `ChatClient`), its events and what
 * follows from them (phase, queue place, agent, names, read marks, what is unread).
 *
 * Events (`CustomEvent`s): `change` (redraw), `status` (the connection's state), `alert` (a live
 * event a reader who is not looking should hear of; `detail` is the frame), `fatal` (the chat's
 * token was refused for good).
 */
import { ChatClient } from "./chat_client.js";

/**
 * @typedef {import("./transports.js").Frame} Frame
 * @typedef {{ chat_id: string, client_id: string, client_token: string, email?: string }} Session
 * @typedef {{ id: string, name: string | null, role: string }} Agent
 */

/** A message from the other side: what unread counts count. */
export function fromStaff(/** @type {Frame} */ f) {
  return f.type === "message" && f.payload.sender_role !== "client";
}

/** Events from the other side that alert a reader who is away: messages, and what staff did. */
export function alertable(/** @type {Frame} */ f) {
  const p = f.payload;
  switch (f.type) {
    case "message":
      return p.sender_role !== "client";
    case "chat_assigned":
    case "chat_transferred":
    case "lawyer_assigned":
      return true;
    case "chat_closed":
      return p.closed_by_role !== "client";
    default:
      return false;
  }
}

export class Conversation extends EventTarget {
  /** `"queued" | "bot" | "assigned" | "closed"` */
  phase = "queued";
  rated = false;
  /** A message left while nobody was online. */
  offline = false;
  /** @type {number | null} */
  position = null;
  /** @type {number | null} */
  wait = null;
  /** The staff side has read every event up to this seq. */
  peerRead = 0;
  /** Our read mark on the server. */
  readSent = 0;
  /** Everything up to this seq was in front of the reader. */
  seen = 0;
  /** Replay is over: events now arrive as they happen (alerts only for these). */
  live = false;
  /**
   * The chat appeared while the reader was here (a lawyer chat opened by a live assignment): what
   * its first replay brings is new to them too, so staff messages in it alert as well.
   */
  fresh = false;
  peerTyping = false;
  /** @type {Agent | null} who has the chat now */
  agent = null;
  /** Display names of staff by id (from assignments and transfers). */
  /** @type {Map<string, string>} */
  names = new Map();
  /** @type {Map<number, Frame>} stored events by seq */
  events = new Map();
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #typingTimer;

  /**
   * @param {{ kind: "support" | "lawyer", session: Session, storage: Storage, fresh?: boolean,
   *   storageKey: string, renewToken: (chatId: string) => Promise<string | null> }} o
   */
  constructor(o) {
    super();
    this.kind = o.kind;
    this.fresh = o.fresh ?? false;
    this.session = o.session;
    this.client = new ChatClient({
      token: o.session.client_token,
      chatId: o.session.chat_id,
      storage: o.storage,
      storageKey: o.storageKey,
      renewToken: () => o.renewToken(o.session.chat_id),
    });
    this.outbox = this.client.outbox;
    this.client.addEventListener(
      "frame",
      (e) => this.#onFrame(/** @type {CustomEvent} */ (e).detail),
    );
    this.client.addEventListener(
      "status",
      (e) => this.#tell("status", /** @type {CustomEvent} */ (e).detail),
    );
    this.client.addEventListener("outbox", (e) => {
      this.outbox = /** @type {CustomEvent} */ (e).detail.items;
      this.#tell("change");
    });
    this.client.addEventListener(
      "fatal",
      (e) => this.#tell("fatal", /** @type {CustomEvent} */ (e).detail),
    );
  }

  get chatId() {
    return this.session.chat_id;
  }

  get closed() {
    return this.phase === "closed";
  }

  start() {
    this.client.start();
  }

  stop() {
    clearTimeout(this.#typingTimer);
    this.client.stop();
  }

  /** How many messages from the other side the reader has not had in front of them. */
  unread() {
    let n = 0;
    for (const [seq, f] of this.events) if (seq > this.seen && fromStaff(f)) n++;
    return n;
  }

  /**
   * The reader has this conversation in front of them: all of it is seen, and the server hears
   * that we read the newest event from the other side (never our own `read`: that would loop).
   */
  markSeen() {
    let top = 0;
    for (const [seq, f] of this.events) {
      if (alertable(f) || f.type === "bot_response") top = Math.max(top, seq);
    }
    const before = this.seen;
    this.seen = Math.max(this.seen, top);
    if (top > this.readSent && this.client.state.status === "open") {
      this.readSent = top;
      this.client.request("read", { seq: top }).catch(() => (this.readSent = 0));
    }
    if (this.seen !== before) this.#tell("change");
  }

  /** @param {string} type @param {unknown} [detail] */
  #tell(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #setPeerTyping(/** @type {boolean} */ on) {
    clearTimeout(this.#typingTimer);
    this.peerTyping = on;
    if (on) {
      this.#typingTimer = setTimeout(() => {
        this.peerTyping = false;
        this.#tell("change");
      }, 8000);
    }
  }

  /** @param {Frame} f */
  #onFrame(f) {
    const p = f.payload ?? {};
    const me = this.client.state.user?.user_id;
    if (p.chat_id !== undefined && p.chat_id !== this.chatId) return;
    if (typeof p.seq === "number" && f.type !== "ack") {
      this.events.set(p.seq, f);
      this.#apply(f, me);
      const alerts = this.live ? alertable(f) : this.fresh && fromStaff(f);
      if (alerts && p.seq > this.seen) this.#tell("alert", f);
      this.#tell("change");
    } else if (f.type === "resumed") {
      this.live = true;
    } else if (f.type === "queue_position") {
      this.position = p.position;
      this.wait = p.estimated_wait_s;
      this.#tell("change");
    } else if (f.type === "typing" && p.user_id !== me) {
      this.#setPeerTyping(Boolean(p.is_typing) && this.phase === "assigned");
      this.#tell("change");
    }
  }

  /** What a stored event changes. @param {Frame} f @param {string | undefined} me */
  #apply(f, me) {
    const p = f.payload;
    switch (f.type) {
      case "chat_created":
        if (p.held) this.phase = "bot";
        if (p.offline) this.offline = true;
        break;
      case "chat_queued":
        this.phase = "queued";
        break;
      case "chat_assigned":
        this.phase = "assigned";
        this.offline = false;
        if (p.operator_name) this.names.set(p.operator_id, p.operator_name);
        this.agent = {
          id: p.operator_id,
          name: this.names.get(p.operator_id) ?? null,
          role: p.role ?? "operator",
        };
        break;
      case "chat_transferred":
        this.phase = p.to_queue ? "queued" : "assigned";
        if (p.to_operator_id && p.operator_name) this.names.set(p.to_operator_id, p.operator_name);
        this.agent = p.to_queue || !p.to_operator_id ? null : {
          id: p.to_operator_id,
          name: this.names.get(p.to_operator_id) ?? null,
          role: "operator",
        };
        if (p.to_queue) this.position = null;
        break;
      case "lawyer_assigned":
        if (p.lawyer_name) this.names.set(p.lawyer_id, p.lawyer_name);
        break;
      case "chat_closed":
        this.phase = "closed";
        this.peerTyping = false;
        break;
      case "chat_rated":
        this.rated = true;
        break;
      case "read": {
        const mine = p.role ? p.role === "client" : p.user_id === me;
        if (mine) {
          this.readSent = Math.max(this.readSent, p.last_read_seq);
          this.seen = Math.max(this.seen, p.last_read_seq);
        } else this.peerRead = Math.max(this.peerRead, p.last_read_seq);
        break;
      }
      case "message":
        if (p.sender_role !== "client") this.#setPeerTyping(false);
        break;
    }
  }
}
