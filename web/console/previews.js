// @ts-check
/**
 * Previews of waiting chats for the queue: the client's name and first message. Queue frames
 * carry neither, so the start of each listed chat's history is read once over REST (operators
 * may read a waiting chat) and kept; a few requests at a time, only for the first rows.
 */
import { api } from "./api.js";

/** @typedef {{ name: string, text: string, offline: boolean, at?: number }} Preview */

const MAX_PARALLEL = 4;
/** @type {Map<string, Preview | "loading" | "failed">} */
const cache = new Map();
/** @type {string[]} */
const waiting = [];
let running = 0;
/** @type {() => void} */
let onLoaded = () => {};

/** Calls `fn` whenever a preview arrived (the lists re-render). */
export function onPreview(/** @type {() => void} */ fn) {
  onLoaded = fn;
}

/** The preview of a waiting chat, or null while it loads (it is asked for now). */
export function preview(/** @type {string} */ chatId) {
  const hit = cache.get(chatId);
  // A chat whose client has not written yet is asked again now and then.
  const stale = typeof hit === "object" && !hit.text && Date.now() - (hit.at ?? 0) > 10_000;
  if (hit && typeof hit === "object" && !stale) return hit;
  if (!hit || stale) {
    cache.set(chatId, "loading");
    waiting.push(chatId);
    pump();
  }
  return typeof hit === "object" ? hit : null;
}

/** Stores a preview learnt otherwise (the chat's own events). */
export function remember(/** @type {string} */ chatId, /** @type {Preview} */ p) {
  cache.set(chatId, p);
}

function pump() {
  while (running < MAX_PARALLEL && waiting.length) {
    const chatId = /** @type {string} */ (waiting.shift());
    running++;
    load(chatId).finally(() => {
      running--;
      onLoaded();
      pump();
    });
  }
}

async function load(/** @type {string} */ chatId) {
  try {
    const page = await api(`chats/${encodeURIComponent(chatId)}/history`, {
      query: { limit: "20" },
    });
    /** @type {Preview} */
    const p = { name: "", text: "", offline: false, at: Date.now() };
    for (const f of page.events) {
      if (f.type === "chat_created") {
        p.name = f.payload.client_name ?? f.payload.channel?.name ?? "";
        p.offline = f.payload.offline === true;
      }
      if (f.type === "message" && f.payload.sender_role === "client" && !p.text) {
        p.text = f.payload.message || "";
      }
    }
    cache.set(chatId, p);
  } catch {
    cache.set(chatId, "failed");
  }
}
