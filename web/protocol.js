// @ts-check
/** Protocol constants and small helpers shared by `chat_client.js` and the pages. */

/** @typedef {import("./transports.js").Frame} Frame */

/** `localStorage.setItem("supportchat.debug", "1")` logs every frame to the console. */
export const DEBUG = (() => {
  try {
    return localStorage.getItem("supportchat.debug") === "1";
  } catch {
    return false;
  }
})();

/** The stored, `seq`-numbered frame types (docs/PROTOCOL.md, "Session events"). */
export const SESSION_EVENT_TYPES = new Set([
  "chat_created",
  "chat_queued",
  "chat_assigned",
  "message",
  "read",
  "chat_closed",
  "chat_rated",
  "chat_transferred",
  "lawyer_assigned",
]);

/** A failed request: `frame` is the server's `error` frame when it answered with one. */
export class RequestError extends Error {
  /** @param {string} message @param {Frame | null} frame */
  constructor(message, frame = null) {
    super(message);
    this.frame = frame;
  }
}

/**
 * The address of an endpoint: the WebSocket, the SSE stream, or the SSE send.
 * @param {string} baseUrl
 * @param {"ws" | "sse" | "send"} which
 * @param {string} token
 * @param {{ chatId: string, lastSeq: number } | null} chat resume this chat (client streams)
 * @param {Map<string, number> | null} cursor staff streams: resume these chats from these seqs
 */
export function endpointUrl(baseUrl, which, token, chat, cursor = null) {
  const path = which === "ws"
    ? "/api/v1/chat/ws/chat"
    : which === "sse"
    ? "/api/v1/chat/sse"
    : "/api/v1/chat/sse/send";
  const u = new URL(path, baseUrl);
  if (which === "ws") u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.searchParams.set("token", token);
  // Staff take the queue's changes as one `queue_delta` per interval (docs/PROTOCOL.md).
  if (which !== "send") u.searchParams.set("features", "queue_delta");
  if (chat && which !== "send") {
    u.searchParams.set("chat_id", chat.chatId);
    u.searchParams.set("last_seq", String(chat.lastSeq));
  }
  if (cursor && cursor.size > 0 && which !== "send") {
    const list = [...cursor].map(([id, seq]) => `${encodeURIComponent(id)}:${seq}`).join(",");
    u.searchParams.set(which === "ws" ? "resume" : "last_event_id", list);
  }
  return u.toString();
}

/**
 * Turns keystrokes into `typing` frames: `true` at most every 3 s while typing, `false` after
 * 2.5 s without a key, on `stop()` (sending) and when the chat (`key`) changes.
 */
export class TypingNotifier {
  #send;
  #sentAt = 0;
  /** @type {string} */
  #key = "";
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #timer;

  /** @param {(isTyping: boolean, key: string) => void} send */
  constructor(send) {
    this.#send = send;
  }

  input(key = "") {
    if (this.#sentAt && key !== this.#key) this.stop();
    if (Date.now() - this.#sentAt > 3000) {
      this.#sentAt = Date.now();
      this.#key = key;
      this.#send(true, key);
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.stop(), 2500);
  }

  stop() {
    clearTimeout(this.#timer);
    if (!this.#sentAt) return;
    this.#sentAt = 0;
    this.#send(false, this.#key);
  }
}
