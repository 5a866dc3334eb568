// @ts-check
/**
 * The client widget (`/`, and inside the iframe of `/embed.js` with `?embed=1`): starts a chat,
 * keeps its token in localStorage so a reload resumes it, shows the queue position, messages,
 * typing and read state, and asks for a rating once the chat is closed.
 */
import { ChatClient } from "./chat_client.js";
import { TypingNotifier } from "./protocol.js";
import { byId, connectionText, keepScrolledToBottom, safeStorage, show } from "./dom.js";
import { buildStars, queueText, renderMessages } from "./widget_view.js";
import { attachmentList, wireAttachButton } from "./attachments.js";
import { loadI18n, localize } from "./i18n.js";

/** @typedef {import("./transports.js").Frame} Frame */

const KEY = "supportchat.session";
/** The visitor token: who this browser is (lists and starts the visitor's chats). */
const VISITOR_KEY = "supportchat.visitor";
const storage = safeStorage();
const embedded = new URLSearchParams(location.search).has("embed");

const el = {
  status: byId("status-line"),
  end: /** @type {HTMLButtonElement} */ (byId("end-btn")),
  minimize: byId("minimize-btn"),
  startView: byId("start-view"),
  startForm: /** @type {HTMLFormElement} */ (byId("start-form")),
  startBtn: /** @type {HTMLButtonElement} */ (byId("start-btn")),
  startError: byId("start-error"),
  name: /** @type {HTMLInputElement} */ (byId("name")),
  chatView: byId("chat-view"),
  queue: byId("queue-banner"),
  messages: byId("messages"),
  typing: byId("typing"),
  composer: /** @type {HTMLFormElement} */ (byId("composer")),
  text: /** @type {HTMLTextAreaElement} */ (byId("text")),
  rateView: byId("rate-view"),
  stars: byId("stars"),
  comment: /** @type {HTMLTextAreaElement} */ (byId("comment")),
  rateBtn: /** @type {HTMLButtonElement} */ (byId("rate-btn")),
  rateError: byId("rate-error"),
  doneView: byId("done-view"),
  newChat: byId("new-chat-btn"),
};

/** Everything the page shows, rebuilt from the events of one chat. */
const s = {
  /** @type {{ chat_id: string, client_id: string, client_token: string } | null} */
  session: null,
  /** @type {ChatClient | null} */
  client: null,
  /** @type {Map<number, Frame>} */
  events: new Map(),
  /** @type {import("./outbox.js").OutboxItem[]} */
  outbox: [],
  phase: "none",
  rated: false,
  /** @type {number | null} */
  position: null,
  /** @type {number | null} */
  wait: null,
  peerRead: 0,
  readSent: 0,
  score: 0,
  panelOpen: true,
  /** From the embedding page (embed.js): who the site says the visitor is, and their details. */
  /** @type {Record<string, unknown> | null} */
  identity: null,
};
/** @type {ReturnType<typeof setTimeout> | undefined} */
let peerTypingTimer;
const myTyping = new TypingNotifier((isTyping) =>
  s.client?.notify("typing", { is_typing: isTyping })
);

// ---- session ----

function loadSession() {
  try {
    const v = JSON.parse(storage.getItem(KEY) ?? "null");
    return v && typeof v.client_token === "string" && typeof v.chat_id === "string" ? v : null;
  } catch {
    return null;
  }
}

/** The body fields of a site's identity (embed.js's `supportChatSettings`). */
function identityBody(/** @type {Record<string, unknown> | null} */ id) {
  if (!id) return {};
  /** @type {Record<string, unknown>} */
  const out = {};
  if (typeof id.identity_token === "string") out.identity_token = id.identity_token;
  else if (typeof id.user_id === "string" && typeof id.user_hash === "string") {
    out.client_id = id.user_id;
    out.user_hash = id.user_hash;
  }
  for (const k of ["name", "email", "attributes"]) if (id[k] !== undefined) out[k] = id[k];
  return out;
}

/** POST /chats as the stored visitor (a new anonymous one when there is none or it expired). */
async function postChat(/** @type {Record<string, unknown>} */ body) {
  const visitor = storage.getItem(VISITOR_KEY);
  const post = (/** @type {string | null} */ token) =>
    fetch("/api/v1/chat/chats", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });
  let res = await post(visitor);
  if (res.status === 401 && visitor) {
    storage.removeItem(VISITOR_KEY);
    res = await post(null);
  }
  return res;
}

/** A fresh chat token for `chatId` from the visitor's list of chats, or null. */
async function freshChatToken(/** @type {string} */ chatId) {
  const visitor = storage.getItem(VISITOR_KEY);
  if (!visitor) return null;
  const res = await fetch("/api/v1/chat/me/chats", {
    headers: { authorization: `Bearer ${visitor}` },
  });
  if (!res.ok) return null;
  /** @type {{ chat_id: string, client_token: string }[]} */
  const chats = await res.json();
  const token = chats.find((c) => c.chat_id === chatId)?.client_token ?? null;
  if (token && s.session?.chat_id === chatId) {
    s.session = { ...s.session, client_token: token };
    storage.setItem(KEY, JSON.stringify(s.session));
  }
  return token;
}

async function startChat(/** @type {Event} */ e) {
  e.preventDefault();
  el.startBtn.disabled = true;
  show(el.startError, false);
  try {
    const name = el.name.value.trim();
    const res = await postChat({ ...identityBody(s.identity), ...(name ? { name } : {}) });
    const body = await res.json();
    if (res.status !== 201) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
    const { chat_id, client_id, client_token, position } = body;
    if (body.visitor_token) storage.setItem(VISITOR_KEY, body.visitor_token);
    storage.setItem(KEY, JSON.stringify({ chat_id, client_id, client_token }));
    open({ chat_id, client_id, client_token }, position);
    // BOT_MODE=all: the assistant answers first; no queue banner until it hands over.
    if (body.status === "bot") {
      s.phase = "bot";
      render();
    }
  } catch (err) {
    el.startError.textContent = `Could not start a chat: ${/** @type {Error} */ (err).message}`;
    show(el.startError);
  } finally {
    el.startBtn.disabled = false;
  }
}

/** Connects to a chat and shows it. */
function open(/** @type {any} */ session, position = null) {
  Object.assign(s, {
    session,
    events: new Map(),
    phase: "queued",
    rated: false,
    position,
    wait: null,
    peerRead: 0,
    readSent: 0,
  });
  const client = new ChatClient({
    token: session.client_token,
    chatId: session.chat_id,
    storage,
    storageKey: `${KEY}.outbox.${session.chat_id}`,
    renewToken: () => freshChatToken(session.chat_id),
  });
  s.client = client;
  s.outbox = client.outbox;
  client.addEventListener("frame", (e) => onFrame(/** @type {CustomEvent} */ (e).detail));
  client.addEventListener("status", (e) => {
    const st = /** @type {CustomEvent} */ (e).detail;
    const { text, tone } = connectionText(st);
    el.status.textContent = text;
    el.status.dataset.tone = tone;
    el.status.title = st.transport === "sse"
      ? "WebSocket unavailable: using server-sent events"
      : "";
    markRead();
  });
  client.addEventListener("outbox", (e) => {
    s.outbox = /** @type {CustomEvent} */ (e).detail.items;
    render();
  });
  client.addEventListener("fatal", () => {
    // The token expired or the chat is gone: start over.
    forget();
    el.startError.textContent = "Your previous chat has ended. Start a new one any time.";
    show(el.startError);
  });
  show(el.startView, false);
  show(el.chatView);
  render();
  client.start();
}

/** Drops the stored chat and shows the start screen. */
function forget() {
  s.client?.stop();
  s.client = null;
  if (s.session) storage.removeItem(`${KEY}.outbox.${s.session.chat_id}`);
  s.session = null;
  storage.removeItem(KEY);
  show(el.chatView, false);
  show(el.end, false);
  show(el.startView);
  el.status.textContent = "Not connected";
  el.status.dataset.tone = "idle";
}

// ---- frames ----

function onFrame(/** @type {Frame} */ f) {
  const p = f.payload ?? {};
  const me = s.client?.state.user?.user_id;
  if (typeof p.seq === "number" && f.type !== "ack" && p.chat_id === s.session?.chat_id) {
    s.events.set(p.seq, f);
    if (f.type === "chat_created" && p.held) s.phase = "bot";
    if (f.type === "chat_queued") s.phase = "queued";
    if (f.type === "chat_assigned") s.phase = "assigned";
    if (f.type === "chat_transferred") s.phase = p.to_queue ? "queued" : "assigned";
    if (f.type === "chat_closed") s.phase = "closed";
    if (f.type === "chat_rated") s.rated = true;
    if (f.type === "read" && p.user_id !== me) s.peerRead = Math.max(s.peerRead, p.last_read_seq);
    if (f.type === "read" && p.user_id === me) s.readSent = Math.max(s.readSent, p.last_read_seq);
    if (f.type === "message" && p.sender_role !== "client") setPeerTyping(false);
    render();
  } else if (f.type === "queue_position") {
    s.position = p.position;
    s.wait = p.estimated_wait_s;
    render();
  } else if (f.type === "typing" && p.user_id !== me) {
    setPeerTyping(p.is_typing);
  }
}

function setPeerTyping(/** @type {boolean} */ on) {
  clearTimeout(peerTypingTimer);
  keepScrolledToBottom(el.messages, () => show(el.typing, on && s.phase === "assigned"));
  if (on) peerTypingTimer = setTimeout(() => show(el.typing, false), 8000);
}

function render() {
  const closed = s.phase === "closed";
  keepScrolledToBottom(el.messages, () => {
    renderMessages(
      el.messages,
      s,
      (id) => s.client?.retryMessage(id),
      (files) => attachmentList(files, s.session?.client_token),
      (text) => s.client?.sendMessage(text),
    );
    show(el.queue, s.phase === "queued");
    el.queue.textContent = queueText(s);
    show(el.composer, !closed);
    show(el.end, !closed && s.session !== null);
    show(el.rateView, closed && !s.rated);
    show(el.doneView, closed && s.rated);
    if (closed) show(el.typing, false);
  });
  markRead();
  notifyParent();
}

/** Sends `read` for the newest message from the other side, once the widget is visible. */
function markRead() {
  if (document.visibilityState !== "visible" || !s.panelOpen || !s.client) return;
  const top = [...s.events.values()]
    .filter((f) => f.type === "message" && f.payload.sender_role !== "client")
    .reduce((m, f) => Math.max(m, f.payload.seq), 0);
  if (top > s.readSent && s.client.state.status === "open") {
    s.readSent = top;
    s.client.request("read", { seq: top }).catch(() => (s.readSent = 0));
  }
}

/** In the iframe of /embed.js: tell the page how many messages are unread. */
function notifyParent() {
  if (!embedded) return;
  const unread =
    [...s.events.values()].filter((f) =>
      f.type === "message" && f.payload.sender_role !== "client" && f.payload.seq > s.readSent
    ).length;
  parent.postMessage({ type: "supportchat:unread", count: unread }, "*");
}

// ---- user actions ----

function send(/** @type {Event} */ e) {
  e.preventDefault();
  const text = el.text.value.trim();
  if (!text || !s.client) return;
  s.client.sendMessage(text);
  el.text.value = "";
  myTyping.stop();
  el.text.focus();
}

let endArmed = false;
function endChat() {
  // Two clicks: the first asks for confirmation.
  if (!endArmed) {
    endArmed = true;
    el.end.textContent = "End chat?";
    el.end.classList.add("danger");
    setTimeout(() => {
      endArmed = false;
      el.end.textContent = "End chat";
      el.end.classList.remove("danger");
    }, 4000);
    return;
  }
  s.client?.request("close_chat", { reason: "Closed by the client" }).catch(() => {});
}

async function rate() {
  if (!s.client || s.score < 1) return;
  el.rateBtn.disabled = true;
  show(el.rateError, false);
  const comment = el.comment.value.trim();
  try {
    await s.client.request("rate", { score: s.score, ...(comment ? { comment } : {}) });
    s.rated = true;
    render();
  } catch (err) {
    el.rateBtn.disabled = false;
    el.rateError.textContent = `Could not send the rating: ${/** @type {Error} */ (err).message}`;
    show(el.rateError);
  }
}

// ---- wiring ----

el.startForm.addEventListener("submit", startChat);
el.composer.addEventListener("submit", send);
wireAttachButton(
  /** @type {HTMLButtonElement} */ (byId("attach-btn")),
  /** @type {HTMLInputElement} */ (byId("attach-input")),
  () => s.session && { token: s.session.client_token, chatId: s.session.chat_id },
  (ids) => {
    // The text typed so far goes with the files.
    show(byId("attach-error"), false);
    s.client?.sendMessage(el.text.value.trim(), null, ids);
    el.text.value = "";
  },
  (message) => {
    byId("attach-error").textContent = message;
    show(byId("attach-error"));
  },
);
el.text.addEventListener("input", () => myTyping.input());
el.text.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) send(e);
});
el.end.addEventListener("click", endChat);
el.rateBtn.addEventListener("click", rate);
el.newChat.addEventListener("click", forget);
buildStars(el.stars, (n) => {
  s.score = n;
  el.rateBtn.disabled = false;
});
document.addEventListener("visibilitychange", markRead);
byId("embed-origin").textContent = location.origin;

if (embedded) {
  document.body.classList.add("embedded");
  show(el.minimize);
  el.minimize.addEventListener(
    "click",
    () => parent.postMessage({ type: "supportchat:close" }, "*"),
  );
  addEventListener("message", (e) => {
    if (e.source !== parent || typeof e.data?.open !== "boolean") return;
    if (e.data.identity && typeof e.data.identity === "object") s.identity = e.data.identity;
    s.panelOpen = e.data.open;
    markRead();
    notifyParent();
  });
}

// The language before anything is drawn (after the listeners, so no message is missed meanwhile).
await loadI18n({ storage });
localize(document);
const saved = loadSession();
if (saved) open(saved);
