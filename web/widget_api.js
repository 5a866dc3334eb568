// @ts-check
/**
 * The widget's REST calls and what it keeps in storage: the visitor token (who this browser is),
 * the open support and lawyer chats, the name the visitor gave. Every failure is an `ApiError`
 * (web/errors.js), so the page can say what happened in the reader's language.
 */
import { ApiError, apiFetch, apiJson } from "./errors.js";

export const KEYS = {
  /** The support chat: `{ chat_id, client_id, client_token, email? }`. */
  support: "supportchat.session",
  /** The lawyer chat, same shape. */
  lawyer: "supportchat.lawyer",
  /** The visitor token: lists and starts the visitor's chats (`/me/chats`). */
  visitor: "supportchat.visitor",
  /** The name the visitor gave, for the next chat. */
  name: "supportchat.name",
};

/**
 * @typedef {import("./widget_conv.js").Session} Session
 * @typedef {{ chat_id: string, kind: "support" | "lawyer", status: string,
 *   linked_chat_id: string | null, created_at: string, client_token: string }} MyChat
 * @typedef {{ online: number, operators_online: number, waiting: number,
 *   estimated_wait_s: number | null, reply_promise_h: number }} Availability
 */

export class WidgetApi {
  #storage;

  /** @param {Storage} storage */
  constructor(storage) {
    this.#storage = storage;
  }

  /** A stored chat, or null. @param {string} key @returns {Session | null} */
  session(key) {
    try {
      const v = JSON.parse(this.#storage.getItem(key) ?? "null");
      return v && typeof v.client_token === "string" && typeof v.chat_id === "string" ? v : null;
    } catch {
      return null;
    }
  }

  /** @param {string} key @param {Session | null} session */
  keep(key, session) {
    if (session) this.#storage.setItem(key, JSON.stringify(session));
    else this.#storage.removeItem(key);
  }

  get name() {
    return this.#storage.getItem(KEYS.name) ?? "";
  }

  set name(v) {
    if (v) this.#storage.setItem(KEYS.name, v);
    else this.#storage.removeItem(KEYS.name);
  }

  /**
   * Starts a chat (`POST /chats`) as the stored visitor, or as a new one when there is none or
   * its token expired. Resolves with the server's answer.
   * @param {Record<string, unknown>} body
   */
  async createChat(body) {
    const visitor = this.#storage.getItem(KEYS.visitor);
    const post = (/** @type {string | null} */ token) =>
      apiJson("/api/v1/chat/chats", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
    let created;
    try {
      created = await post(visitor);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === "unauthorized" && visitor)) throw err;
      this.#storage.removeItem(KEYS.visitor);
      created = await post(null);
    }
    if (created.visitor_token) this.#storage.setItem(KEYS.visitor, created.visitor_token);
    return created;
  }

  /** The visitor's chats with fresh chat tokens (`GET /me/chats`); none without a visitor. */
  async myChats() {
    const visitor = this.#storage.getItem(KEYS.visitor);
    if (!visitor) return /** @type {MyChat[]} */ ([]);
    return /** @type {MyChat[]} */ (await apiJson("/api/v1/chat/me/chats", {
      headers: { authorization: `Bearer ${visitor}` },
      cache: "no-store",
    }));
  }

  /** A fresh chat token for `chatId`, or null (kept in its stored session too). */
  async chatToken(/** @type {string} */ chatId) {
    const chat = (await this.myChats().catch(() => [])).find((c) => c.chat_id === chatId);
    if (!chat) return null;
    for (const key of [KEYS.support, KEYS.lawyer]) {
      const s = this.session(key);
      if (s?.chat_id === chatId) this.keep(key, { ...s, client_token: chat.client_token });
    }
    return chat.client_token;
  }

  /** Whether anyone is online, the wait and the offline reply promise; null when unknown. */
  async availability() {
    try {
      return /** @type {Availability} */ (await apiJson("/api/v1/chat/availability"));
    } catch {
      return null;
    }
  }

  /**
   * Downloads the chat's transcript (plain text, in `lang`, times in this browser's zone).
   * @param {Session} session @param {string} lang
   */
  async downloadTranscript(session, lang) {
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC";
    // The language as Accept-Language: the server falls back to English for one it lacks.
    const res = await apiFetch(
      `/api/v1/chat/chats/${encodeURIComponent(session.chat_id)}/transcript?tz=${
        encodeURIComponent(tz)
      }`,
      {
        headers: { authorization: `Bearer ${session.client_token}`, "accept-language": lang },
        cache: "no-store",
      },
    );
    const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") ?? "")?.[1] ??
      `chat-${session.chat_id}.txt`;
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }
}
