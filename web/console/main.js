// @ts-check
/**
 * The operator console (`/console`): sign in with a staff token (kept in sessionStorage), then one
 * protocol connection carries the queue, offers and every chat of this operator.
 */
import { ChatClient } from "../chat_client.js";
import { byId, connectionText, h, safeStorage, show } from "../dom.js";
import { startAdmin } from "./admin.js";
import { ChatView } from "./chat_view.js";
import { installHints } from "./hints.js";
import { renderLists } from "./lists.js";
import { Store } from "./store.js";
import { loadI18n, localize } from "../i18n.js";

/** @typedef {import("../transports.js").Frame} Frame */

const TOKEN_KEY = "supportchat.console.token";

const store = new Store();
/** @type {ChatClient | null} */
let client = null;
/** @type {string | null} */
let token = null;
/** @type {(() => void) | null} */
let stopAdmin = null;
const view = new ChatView(store, () => client);
installHints(() => token, () => store.activeId);
const statusSelect = /** @type {HTMLSelectElement} */ (byId("my-status"));

/** A short message in the corner. */
function toast(/** @type {string} */ text, tone = "bad") {
  const t = h("div", { class: `toast ${tone}`, role: "alert", text });
  document.body.append(t);
  setTimeout(() => t.remove(), 5000);
}

// ---- sign in / out ----

/** Checks a token against the REST API; resolves with this operator's roster row, if any. */
async function checkToken(/** @type {string} */ t) {
  const res = await fetch("/api/v1/chat/chats/operators", {
    headers: { authorization: `Bearer ${t}` },
    cache: "no-store",
  });
  if (res.status === 401) throw new Error("This token was refused (wrong or expired).");
  if (res.status === 403) throw new Error("This is not a staff token.");
  if (!res.ok) throw new Error(`The server answered HTTP ${res.status}.`);
  return /** @type {Array<{ operator_id: string, status: string }>} */ (await res.json());
}

async function signIn(/** @type {Event} */ e) {
  e.preventDefault();
  const t = /** @type {HTMLTextAreaElement} */ (byId("token")).value.trim();
  const btn = /** @type {HTMLButtonElement} */ (byId("signin-btn"));
  btn.disabled = true;
  show(byId("signin-error"), false);
  try {
    await checkToken(t);
    sessionStorage.setItem(TOKEN_KEY, t);
    connect(t);
  } catch (err) {
    signInError(/** @type {Error} */ (err).message);
  } finally {
    btn.disabled = false;
  }
}

function signInError(/** @type {string} */ message) {
  byId("signin-error").textContent = message;
  show(byId("signin-error"));
}

function signOut(/** @type {string | null} */ message = null) {
  client?.stop();
  client = null;
  stopAdmin?.();
  stopAdmin = null;
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  location.hash = "";
  show(byId("app"), false);
  show(byId("signin"));
  if (message) signInError(message);
}

// ---- the connection ----

function connect(/** @type {string} */ t) {
  token = t;
  show(byId("signin"), false);
  show(byId("app"));
  const c = new ChatClient({ token: t });
  client = c;
  let first = true;
  c.addEventListener("frame", (e) => {
    const f = /** @type {Frame} */ (/** @type {CustomEvent} */ (e).detail);
    const adopted = store.apply(f);
    if (adopted) c.track(adopted, 0); // a chat became mine: load its whole history
    if (f.type === "connected") {
      // Load the history of every chat the server says is mine (a new tab knows none yet).
      for (const id of f.payload.open_chats ?? []) c.track(id, 0);
      onConnected(f, first);
      first = false;
    }
    if (f.type === "error" && !f.ref) toast(f.payload.message);
  });
  c.addEventListener("status", (e) => {
    const st = /** @type {CustomEvent} */ (e).detail;
    const { text, tone } = connectionText(st);
    const line = byId("conn-status");
    line.textContent = text;
    line.dataset.tone = tone;
    line.title = st.transport === "sse" ? "WebSocket unavailable: using server-sent events" : "";
    view.markRead();
  });
  c.addEventListener("outbox", (e) => {
    const d = /** @type {CustomEvent} */ (e).detail;
    view.outbox = d.items;
    if (d.items.some((/** @type {any} */ i) => i.status === "failed")) {
      toast("A message could not be sent.");
    }
    render();
  });
  c.addEventListener("fatal", () => signOut("Your token was refused (expired?). Sign in again."));
  c.start();
}

/** @param {Frame} f @param {boolean} first */
function onConnected(f, first) {
  const me = f.payload;
  byId("me-name").textContent = me.user_id;
  byId("me-role").textContent = me.role;
  if (first) {
    for (const id of store.restore(me.user_id)) {
      client?.track(id, 0)?.catch((err) => {
        // Not ours any more (transferred, or another server's data): drop it from the list.
        if (["forbidden", "not_found"].includes(err.frame?.payload.code)) store.dismiss(id);
      });
    }
    if (me.role === "admin" && token && !stopAdmin) {
      show(byId("admin"));
      document.body.classList.add("is-admin");
      let lastError = "";
      stopAdmin = startAdmin(token, (m) => m !== lastError && toast(lastError = m));
    }
  }
  // Connecting makes an offline operator online; learn the status the queue now has.
  if (token) {
    checkToken(token).then((rows) => {
      const row = rows.find((r) => r.operator_id === me.user_id);
      if (row) store.myStatus = row.status;
      store.changed();
    }).catch(() => {});
  }
}

// ---- actions ----

async function accept(/** @type {string} */ chatId) {
  if (!client) return;
  try {
    await client.request("accept_chat", { chat_id: chatId });
    store.offers.delete(chatId);
    openChat(chatId); // its chat_assigned event makes it one of my chats (and loads its history)
  } catch (err) {
    toast(`Could not accept: ${/** @type {Error} */ (err).message}`);
  }
}

function openChat(/** @type {string} */ chatId) {
  store.activeId = chatId;
  location.hash = `chat=${encodeURIComponent(chatId)}`;
  store.changed();
  /** @type {HTMLElement | null} */ (document.getElementById("chat-text"))?.focus();
}

async function setStatus() {
  const wanted = statusSelect.value;
  const before = store.myStatus;
  try {
    if (!client) throw new Error("Not connected");
    await client.request("set_status", { status: wanted });
    store.myStatus = wanted;
  } catch (err) {
    store.myStatus = before;
    toast(`Could not change status: ${/** @type {Error} */ (err).message}`);
  }
  store.changed();
}

// ---- rendering ----

let queued = false;
function render() {
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => {
    queued = false;
    if (document.activeElement !== statusSelect) statusSelect.value = store.myStatus;
    statusSelect.dataset.status = store.myStatus;
    renderLists(store, { accept, open: openChat });
    view.render();
  });
}

store.addEventListener("change", render);
setInterval(render, 1000); // wait times, countdowns, typing timeouts
byId("signin-form").addEventListener("submit", signIn);
byId("signout-btn").addEventListener("click", () => signOut());
statusSelect.addEventListener("change", setStatus);

const hash = new URLSearchParams(location.hash.slice(1));
if (hash.get("chat")) store.activeId = hash.get("chat");
await loadI18n({ storage: safeStorage() });
localize(document);
const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) connect(saved);
