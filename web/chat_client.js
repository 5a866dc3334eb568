// @ts-check
/**
 * The chat protocol client shared by the widget and the console (see docs/PROTOCOL.md).
 *
 * - WebSocket first; if it fails to connect twice in a row (blocked by a proxy, say) it falls back
 *   to SSE + POST, and probes the WebSocket now and then to switch back.
 * - Reconnects with exponential backoff; waits for the network when the browser is offline.
 * - Resumes each followed chat from the last `seq` it saw, and drops repeated `seq`s, so the UI
 *   sees every session event once, in order.
 * - An outbox sends chat messages one by one with a `client_msg_id` and resends them after a
 *   reconnect until acknowledged (the server stores a repeated id once).
 * - Answers the server's `ping` with `pong`, and pings the server itself to spot dead sockets.
 *
 * - A connection lives no longer than its token: on `token_expiring` the client asks
 *   `renewToken` for a fresh one and hands it over (`refresh_token`); reconnects use it too.
 *
 * Events (all `CustomEvent`s, data in `detail`): `frame` (every frame, session events deduplicated),
 * `status` (the {@link ChatClient#state}), `outbox` (the pending messages), `fatal` (the token was
 * refused or expired without a fresh one: {code, reason}; the client stops).
 */
import { Outbox } from "./outbox.js";
import { DEBUG, endpointUrl, RequestError, SESSION_EVENT_TYPES } from "./protocol.js";
import { probeWebSocket, SseTransport, WsTransport } from "./transports.js";

export { randomId } from "./outbox.js";
export { RequestError, SESSION_EVENT_TYPES } from "./protocol.js";

/** @typedef {import("./transports.js").Frame} Frame */
/** @typedef {import("./outbox.js").OutboxItem} OutboxItem */

/** Chats a staff connection's URL names with their seq (a URL must stay short). */
const CURSOR_CHATS = 100;

export class ChatClient extends EventTarget {
  #o;
  /** @type {WsTransport | SseTransport | null} */
  #t = null;
  #status = "idle";
  #useSse = false;
  #wsFailures = 0;
  #attempt = 0;
  #stopped = true;
  #everOpen = false;
  /** @type {object | null} the transport that got `connected` */
  #openedOn = null;
  /** @type {{ user_id: string, role: string, connection_id: string } | null} */
  #me = null;
  /** Per chat: every seq up to `floor` was seen, and those in `seen` above it. */
  /** @type {Map<string, { seen: Set<number>, floor: number }>} */
  #chats = new Map();
  /** @type {Map<string, { resolve(f: Frame): void, reject(e: Error): void }>} */
  #pending = new Map();
  /** @type {Outbox} */
  #outbox;
  #refs = 0;
  /** @type {Record<string, number | undefined>} */
  #timers = {};
  #onOnline = () => this.#status === "offline" && this.#connect();
  #onOffline = () => this.#drop("offline");

  /**
   * @param {{ token: string, chatId?: string, baseUrl?: string,
   *   transport?: "auto" | "ws" | "sse", storage?: Storage | null, storageKey?: string,
   *   heartbeatMs?: number, probeMs?: number, requestTimeoutMs?: number,
   *   renewToken?: () => Promise<string | null> }} opts
   */
  constructor(opts) {
    super();
    this.#o = {
      baseUrl: location.origin,
      transport: "auto",
      storage: null,
      storageKey: "",
      heartbeatMs: 20_000,
      probeMs: 30_000,
      requestTimeoutMs: 10_000,
      ...opts,
    };
    if (opts.chatId) this.track(opts.chatId, 0);
    this.#outbox = new Outbox(this.#o.storage, this.#o.storageKey, (items, extra) => {
      this.dispatchEvent(new CustomEvent("outbox", { detail: { items, ...extra } }));
    });
  }

  /** Connection state for status lines. */
  get state() {
    return {
      status: this.#status, // idle | connecting | open | reconnecting | offline | failed | closed
      transport: this.#t?.kind ?? (this.#useSse ? "sse" : "ws"),
      attempt: this.#attempt,
      user: this.#me,
    };
  }

  /** The token this client connects with (uploads and downloads use it too). */
  get token() {
    return this.#o.token;
  }

  /** Gets a fresh token from `renewToken` and hands it to the open connection. */
  async #renew() {
    const token = await this.#o.renewToken?.().catch(() => null);
    if (!token) return false;
    this.#o.token = token;
    if (this.#status === "open") await this.request("refresh_token", { token }).catch(() => {});
    return true;
  }

  /** Messages not yet acknowledged (pending or failed). */
  get outbox() {
    return this.#outbox.items;
  }

  start() {
    if (!this.#stopped) return;
    this.#stopped = false;
    addEventListener("online", this.#onOnline);
    addEventListener("offline", this.#onOffline);
    this.#connect();
  }

  stop() {
    this.#stopped = true;
    removeEventListener("online", this.#onOnline);
    removeEventListener("offline", this.#onOffline);
    this.#drop("closed");
  }

  /**
   * Follows a chat from `fromSeq` (0 = its whole history). Staff connections resume it now (and
   * after every reconnect) from the first `seq` not yet seen; repeats are dropped.
   */
  track(/** @type {string} */ chatId, fromSeq = 0) {
    if (!this.#chats.has(chatId)) this.#chats.set(chatId, { seen: new Set(), floor: fromSeq });
    if (this.#status !== "open" || this.#o.chatId) return null;
    const resumed = this.request("resume", { chat_id: chatId, last_seq: this.lastSeq(chatId) });
    resumed.catch(() => {});
    return resumed; // the caller may look at a refusal (e.g. the chat is no longer theirs)
  }

  /** The `seq` up to which every event of the chat has been seen (what a resume starts from). */
  lastSeq(/** @type {string} */ chatId) {
    return this.#chats.get(chatId)?.floor ?? 0;
  }

  /**
   * Sends a frame; resolves with the `ack` (or `pong`) that echoes its ref, rejects with a
   * {@link RequestError} for an `error` reply, a timeout or a lost connection.
   * @param {string} type @param {Record<string, unknown>} payload @returns {Promise<Frame>}
   */
  request(type, payload = {}) {
    const ref = `r${++this.#refs}`;
    return new Promise((resolve, reject) => {
      if (this.#status !== "open" || !this.#t?.send({ type, payload, ref })) {
        return reject(new RequestError("not connected"));
      }
      const timer = setTimeout(() => {
        this.#pending.delete(ref);
        reject(new RequestError("timeout"));
        this.#drop("reconnecting"); // no answer in time: treat the connection as dead
      }, this.#o.requestTimeoutMs);
      this.#pending.set(ref, {
        resolve: (f) => (clearTimeout(timer), resolve(f)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
    });
  }

  /** Fire and forget (typing, read, …); ignored while disconnected. */
  notify(/** @type {string} */ type, /** @type {Record<string, unknown>} */ payload = {}) {
    this.request(type, payload).catch(() => {});
  }

  /**
   * Queues a chat message; it is sent (and resent after reconnects) until acknowledged.
   * `attachments`: ids of files uploaded first (see attachments.js).
   */
  sendMessage(
    /** @type {string} */ text,
    /** @type {string | null} */ chatId = null,
    /** @type {string[]} */ attachments = [],
  ) {
    const item = this.#outbox.add(text, chatId, attachments);
    this.#pump();
    return item;
  }

  retryMessage(/** @type {string} */ id) {
    this.#outbox.retry(id);
    this.#pump();
  }

  discardMessage(/** @type {string} */ id) {
    this.#outbox.discard(id);
  }

  // ---- connection lifecycle ----

  #connect() {
    clearTimeout(this.#timers.retry);
    if (this.#stopped || this.#t) return;
    if (!navigator.onLine) return this.#setStatus("offline");
    const kind = this.#o.transport === "auto" ? (this.#useSse ? "sse" : "ws") : this.#o.transport;
    this.#setStatus(this.#everOpen || this.#attempt > 0 ? "reconnecting" : "connecting");
    /** @type {import("./transports.js").Handlers} */
    const handlers = {
      onFrame: (f) => this.#t === t && this.#onFrame(f),
      onClose: (info) =>
        this.#t === t && this.#closed(kind, this.#openedOn === t, info.code, info.reason),
    };
    /** @type {WsTransport | SseTransport} */
    const t = kind === "ws"
      ? new WsTransport(this.#url("ws"), handlers)
      : new SseTransport(this.#url("sse"), this.#url("send"), handlers);
    this.#t = t;
    this.#timers.connect = setTimeout(() => {
      if (this.#t === t && this.#openedOn !== t) {
        t.close();
        this.#closed(kind, false, 1006, "connect_timeout");
      }
    }, 10_000);
  }

  /**
   * Staff connections name the chats they follow and the seq each is caught up to, so the server
   * replays each from there before anything live (in order, no gap): at most
   * {@link CURSOR_CHATS}, the rest are resumed with `resume` frames once connected.
   * @param {"ws" | "sse" | "send"} which
   */
  #url(which) {
    const chatId = this.#o.chatId;
    const chat = chatId ? { chatId, lastSeq: this.lastSeq(chatId) } : null;
    return endpointUrl(this.#o.baseUrl, which, this.#o.token, chat, chat ? null : this.#cursor());
  }

  /** @returns {Map<string, number>} */
  #cursor() {
    return new Map([...this.#chats].slice(0, CURSOR_CHATS).map(([id, c]) => [id, c.floor]));
  }

  /** The transport ended by itself. */
  #closed(/** @type {string} */ kind, /** @type {boolean} */ opened, code = 1006, reason = "") {
    this.#t = null;
    this.#cleanup();
    if (code === 4003 && this.#o.renewToken) {
      // The token expired before a fresh one reached the server: get one and come back.
      this.#renew().then((ok) => ok ? this.#retry() : this.#fatal(code, reason));
      return;
    }
    if (code === 1008 || code === 4003) return this.#fatal(code, reason);
    if (kind === "ws") this.#wsFailures = opened ? 0 : this.#wsFailures + 1;
    if (this.#o.transport === "auto") {
      if (kind === "ws" && this.#wsFailures >= 2) this.#useSse = true, this.#attempt = 0;
      else if (kind === "sse" && !opened) this.#useSse = false; // maybe the server is down: retry both
    }
    this.#retry();
  }

  #fatal(/** @type {number} */ code, /** @type {string} */ reason) {
    this.#stopped = true;
    this.#setStatus("failed");
    this.dispatchEvent(new CustomEvent("fatal", { detail: { code, reason } }));
  }

  #retry() {
    if (this.#stopped) return;
    if (!navigator.onLine) return this.#setStatus("offline");
    const delay = Math.min(10_000, 250 * 2 ** this.#attempt) * (0.75 + Math.random() * 0.5);
    this.#attempt++;
    this.#setStatus("reconnecting");
    this.#timers.retry = setTimeout(() => this.#connect(), delay);
  }

  /** Ends the current connection on our side: `offline`, `closed`, or `reconnecting` (retry). */
  #drop(/** @type {"offline" | "closed" | "reconnecting"} */ next) {
    const t = this.#t;
    this.#t = null;
    t?.close();
    this.#cleanup();
    clearTimeout(this.#timers.retry);
    if (next === "reconnecting") this.#retry();
    else this.#setStatus(next);
  }

  #cleanup() {
    for (const k of ["connect", "beat", "probe"]) clearTimeout(this.#timers[k]);
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(new RequestError("disconnected"));
  }

  /** @param {string} status */
  #setStatus(status) {
    this.#status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: this.state }));
  }

  // ---- frames ----

  /** @param {Frame} f */
  #onFrame(f) {
    const p = f.payload ?? {};
    if (DEBUG) console.debug("chat ←", f);
    if (f.type === "ping") return void this.#t?.send({ type: "pong", payload: { id: p.id } });
    if (f.type === "token_expiring") void this.#renew();
    if (f.ref && (f.type === "ack" || f.type === "error" || f.type === "pong")) {
      const waiter = this.#pending.get(f.ref);
      this.#pending.delete(f.ref);
      if (f.type === "error") waiter?.reject(new RequestError(p.message ?? p.code, f));
      else waiter?.resolve(f);
    }
    if (SESSION_EVENT_TYPES.has(f.type) && typeof p.seq === "number" && p.chat_id) {
      let c = this.#chats.get(p.chat_id);
      if (!c) this.#chats.set(p.chat_id, c = { seen: new Set(), floor: 0 });
      if (p.seq <= c.floor || c.seen.has(p.seq)) return; // a repeat (replay overlap, resume)
      c.seen.add(p.seq);
      while (c.seen.delete(c.floor + 1)) c.floor++;
    }
    if (f.type === "connected") this.#opened(f);
    this.dispatchEvent(new CustomEvent("frame", { detail: f }));
  }

  /** @param {Frame} f */
  #opened(f) {
    const t = this.#t;
    if (!t) return;
    clearTimeout(this.#timers.connect);
    this.#openedOn = t;
    t.connectionId = f.payload.connection_id;
    this.#me = /** @type {any} */ ({ ...f.payload });
    this.#attempt = 0;
    this.#everOpen = true;
    if (t.kind === "ws") this.#wsFailures = 0;
    this.#setStatus("open");
    // Staff follow several chats on one connection: those beyond the URL's cursor catch up now.
    if (!this.#o.chatId) {
      for (const [chatId, c] of [...this.#chats].slice(CURSOR_CHATS)) {
        this.notify("resume", { chat_id: chatId, last_seq: c.floor });
      }
    }
    this.#beat();
    if (t.kind === "sse" && this.#o.transport === "auto") this.#scheduleProbe();
    this.#pump();
  }

  #beat() {
    this.#timers.beat = setTimeout(() => {
      this.request("ping").then(() => this.#beat(), () => {});
    }, this.#o.heartbeatMs);
  }

  /** On SSE: try a WebSocket now and then; if it connects, switch back to it. */
  #scheduleProbe() {
    this.#timers.probe = setTimeout(() => {
      if (this.#status !== "open" || this.#t?.kind !== "sse") return;
      const u = new URL(this.#url("ws"));
      u.searchParams.delete("last_seq"); // a probe needs no replay
      probeWebSocket(u.toString(), (ok) => {
        if (this.#t?.kind !== "sse") return;
        if (!ok) return this.#scheduleProbe();
        this.#useSse = false;
        this.#wsFailures = 0;
        this.#drop("reconnecting");
      });
    }, this.#o.probeMs);
  }

  #pump() {
    this.#outbox.pump(
      (type, payload) => this.request(type, payload),
      () => this.#status === "open",
    );
  }
}
