// @ts-check
/**
 * The operator console (`/console`): sign in with a staff token (kept in sessionStorage), then one
 * protocol connection carries the queue, offers, every chat of this operator and their notes.
 * Views (inbox, search, statistics, admin) are chosen in the URL's hash (`#view=search`,
 * `#chat=<id>`), so the back button and reloads keep the place.
 */
import { ChatClient } from "../chat_client.js";
import { byId, connectionText, h, safeStorage, show } from "../dom.js";
import { languages, loadI18n, localize, onLanguageChange, setLanguage, t } from "../i18n.js";
import { api, errorText, fullHistory, setToken } from "./api.js";
import { installAlerts, setBaseTitle } from "./alerts.js";
import { alertFor } from "./alert_rules.js";
import { ChatView } from "./chat_view.js";
import { ContextPanel } from "./context.js";
import { installHints } from "./hints.js";
import { installKeyboard, renderKeys } from "./keyboard.js";
import { renderLists } from "./lists.js";
import { onPreview } from "./previews.js";
import { roster } from "./roster.js";
import { installSearch } from "./search.js";
import { Store } from "./store.js";
import { onRoute, route, routed, showView } from "./views.js";

/** @typedef {import("../transports.js").Frame} Frame */

const TOKEN_KEY = "supportchat.console.token";
const storage = safeStorage();

const store = new Store();
/** @type {ChatClient | null} */
let client = null;
/** @type {string | null} */
let token = null;
const view = new ChatView(store, () => client);
const context = new ContextPanel(store);
const statusSelect = /** @type {HTMLSelectElement} */ (byId("my-status"));

/** A short message in the corner. */
function toast(/** @type {string} */ text, tone = "bad") {
  const el = h("div", { class: `toast ${tone}`, role: "alert", text });
  document.body.append(el);
  setTimeout(() => el.remove(), 5000);
}

// ---- sign in / out ----

/** The claims of a JWT (not checked here: the server does), for the name to show. */
function claims(/** @type {string} */ jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(
      new TextDecoder().decode(Uint8Array.from(atob(part), (ch) => ch.charCodeAt(0))),
    );
  } catch {
    return {};
  }
}

/** Checks a token against the REST API; resolves with the staff roster. */
async function checkToken(/** @type {string} */ t0) {
  setToken(t0);
  try {
    return await api("chats/operators");
  } catch (err) {
    const code = /** @type {any} */ (err).code;
    if (code === "unauthorized") throw new Error(t("console.signin.refused"));
    if (code === "forbidden") throw new Error(t("console.signin.not_staff"));
    throw new Error(errorText(err));
  }
}

async function signIn(/** @type {Event} */ e) {
  e.preventDefault();
  const value = /** @type {HTMLTextAreaElement} */ (byId("token")).value.trim();
  const btn = /** @type {HTMLButtonElement} */ (byId("signin-btn"));
  btn.disabled = true;
  show(byId("signin-error"), false);
  try {
    await checkToken(value);
    sessionStorage.setItem(TOKEN_KEY, value);
    connect(value);
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
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  location.hash = "";
  showView(null);
  show(byId("app"), false);
  show(byId("signin"));
  if (message) signInError(message);
}

// ---- the connection ----

/** Follows a chat's staff stream (notes, labels) from the newest note this tab has. */
function followNotes(/** @type {string} */ chatId) {
  const c = store.chats.get(chatId);
  const last = c ? Math.max(0, ...c.notes.keys()) : 0;
  client?.request("resume", { chat_id: chatId, last_seq: last, stream: "staff" }).catch(() => {});
}

function connect(/** @type {string} */ t0) {
  token = t0;
  setToken(t0);
  show(byId("signin"), false);
  show(byId("app"));
  const me = claims(t0);
  byId("me-name").textContent = me.name ?? me.sub ?? "";
  const c = new ChatClient({ token: t0 });
  client = c;
  let first = true;
  c.addEventListener("frame", (e) => {
    const f = /** @type {Frame} */ (/** @type {CustomEvent} */ (e).detail);
    // What the queue listed before a delta: its `added` also lists chats that only moved.
    const listed = f.type === "queue_delta" ? new Set(store.queue.keys()) : null;
    const adopted = store.apply(f);
    if (adopted) {
      c.track(adopted, 0); // a chat became mine: load its whole history and notes
      followNotes(adopted);
    }
    if (f.type === "connected") {
      for (const id of f.payload.open_chats ?? []) c.track(id, 0);
      onConnected(f, first);
      first = false;
    }
    if (f.type === "error" && !f.ref) toast(errorText({ code: f.payload.code }));
    if (f.type === "chat_created" && f.payload.linked_chat_id) loadLinked(f.payload.chat_id);
    alertFor(store, f, listed);
  });
  c.addEventListener("status", (e) => {
    const st = /** @type {CustomEvent} */ (e).detail;
    const { text, tone } = connectionText(st);
    const line = byId("conn-status");
    line.textContent = text;
    line.dataset.tone = tone;
    line.title = st.transport === "sse" ? t("console.conn.sse_hint") : "";
    view.markRead();
  });
  c.addEventListener("outbox", (e) => {
    const d = /** @type {CustomEvent} */ (e).detail;
    view.outbox = d.items;
    if (d.items.some((/** @type {any} */ i) => i.status === "failed")) {
      toast(t("console.msg.failed"));
    }
    render();
  });
  c.addEventListener("fatal", () => signOut(t("console.signin.expired")));
  c.start();
  routed();
}

/** @param {Frame} f @param {boolean} firstTime */
function onConnected(f, firstTime) {
  const me = f.payload;
  if (!byId("me-name").textContent) byId("me-name").textContent = me.user_id;
  byId("me-role").textContent = t(`console.role.${me.role}`);
  byId("me-role").dataset.role = me.role;
  document.body.dataset.role = me.role;
  for (const el of document.querySelectorAll(".admin-only")) {
    show(/** @type {HTMLElement} */ (el), me.role === "admin");
  }
  if (firstTime) {
    for (const id of store.restore(me.user_id)) {
      client?.track(id, 0)?.catch((err) => {
        // Not ours any more (transferred, or another server's data): drop it from the list.
        if (["forbidden", "not_found"].includes(err.frame?.payload.code)) store.dismiss(id);
      });
    }
  }
  for (const c of store.mine()) followNotes(c.id);
  // Connecting makes an offline operator online; learn the status the queue now has.
  roster(0).then((rows) => {
    const row = rows.find((r) => r.operator_id === me.user_id);
    if (row) store.myStatus = row.status;
    for (const r of rows) if (r.name) store.names.set(r.operator_id, r.name);
    store.changed();
  }).catch(() => {});
}

/**
 * A lawyer chat's support chat, read once (lawyers may): the client's name comes from it for
 * the list and the title, and the context shows its conversation.
 */
function loadLinked(/** @type {string} */ chatId) {
  const linked = store.chats.get(chatId)?.linked?.chatId;
  if (!linked || store.chats.get(linked)?.events.size) return;
  fullHistory(linked).then((frames) => store.load(linked, frames)).catch(() => {});
}

// ---- actions ----

async function accept(/** @type {string} */ chatId) {
  if (!client) return;
  // The reply box takes the focus once the accept is acked, unless the user moved it meanwhile
  // (keys pressed before the ack would otherwise land in the box).
  const focusedBefore = document.activeElement;
  try {
    await client.request("accept_chat", { chat_id: chatId });
    store.offers.delete(chatId);
    // Mine now: off the queue list at once (the server's next view, up to QUEUE_VIEW_MS later,
    // says the same), so the next A takes the next chat, not this one again.
    store.queue.delete(chatId);
    openChat(chatId); // its chat_assigned event makes it one of my chats (and loads its history)
    const still = document.activeElement === focusedBefore ||
      document.activeElement === document.body;
    view.composer.setMode("reply", still);
  } catch (err) {
    toast(t("console.queue.accept_failed", { reason: errorText(err) }));
  }
}

/** Opens a chat (`from`: the view to go back to). */
function openChat(/** @type {string} */ chatId, from = "") {
  route({ view: "inbox", chat: chatId, from });
}

const loading = new Set();
/** A chat that is not mine, read over REST (history and notes) and shown read-only. */
async function loadReadonly(/** @type {string} */ chatId) {
  if (loading.has(chatId)) return;
  loading.add(chatId);
  try {
    const frames = await fullHistory(chatId);
    store.load(chatId, frames);
    const notes = await api(`chats/${encodeURIComponent(chatId)}/notes`).catch(() => null);
    if (notes) store.load(chatId, notes.events);
    else if (foundLabels.has(chatId)) {
      store.chat(chatId, false).labels = foundLabels.get(chatId);
      store.changed();
    }
  } catch (err) {
    toast(t("console.chat.open_failed", { reason: errorText(err) }));
  } finally {
    loading.delete(chatId);
  }
}

async function setStatus() {
  const wanted = statusSelect.value;
  const before = store.myStatus;
  try {
    if (!client) throw new Error("not connected");
    await client.request("set_status", { status: wanted });
    store.myStatus = wanted;
  } catch (err) {
    store.myStatus = before;
    toast(t("console.status.failed", { reason: errorText(err) }));
  }
  store.changed();
}

async function setLabels(/** @type {string} */ chatId, /** @type {string[]} */ labels) {
  if (!client) throw new Error("not connected");
  await client.request("set_labels", { chat_id: chatId, labels });
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
    renderLists(store, { accept, open: (id) => openChat(id), openMention: (id) => openChat(id) });
    view.render();
    context.render();
    const unread = store.mine().reduce((n, c) => n + store.unread(c), 0) + store.offers.size;
    byId("inbox-count").textContent = String(unread);
    show(byId("inbox-count"), unread > 0);
    const labels = byId("label-options");
    const all = store.allLabels();
    if (labels.childElementCount !== all.length) {
      labels.replaceChildren(...all.map((l) => h("option", { value: l })));
    }
  });
}

view.onAccept = accept;
view.onBack = () => back();
context.onOpen = (/** @type {string} */ id) => openChat(id);
context.onLabels = setLabels;
store.addEventListener("change", render);
onPreview(render);
setInterval(render, 1000); // wait times, countdowns, typing timeouts
byId("signin-form").addEventListener("submit", signIn);
byId("signout-btn").addEventListener("click", () => signOut());
statusSelect.addEventListener("change", setStatus);
byId("label-filter").addEventListener("change", (e) => {
  store.labelFilter = /** @type {HTMLSelectElement} */ (e.target).value;
  store.changed();
});
addEventListener("hashchange", () => token && routed(false));
onRoute(({ chat }) => {
  store.activeId = chat;
  if (chat && token && !store.chats.get(chat)?.mine) loadReadonly(chat);
  store.changed();
});

/** Esc / the back button: from a chat to the list (narrow screens), or back to the search. */
function back() {
  if (document.body.classList.contains("context-open")) {
    document.body.classList.remove("context-open");
    byId("context-btn").setAttribute("aria-expanded", "false");
    return true;
  }
  const from = new URLSearchParams(location.hash.slice(1)).get("from");
  if (from === "search") {
    route({ view: "search" });
    return true;
  }
  const open = store.activeId;
  if (open && matchMedia("(max-width: 760px)").matches) {
    route({ view: "inbox" });
    // Back in the list: the keyboard stays on the chat it came from.
    requestAnimationFrame(() => {
      const row = document.querySelector(`#sidebar li[data-chat-id="${CSS.escape(open)}"] button`);
      /** @type {HTMLElement | null} */ (row)?.focus();
    });
    return true;
  }
  return false;
}

/** Keyboard: the chats of the list in order, the first queued chat, the boxes. */
installKeyboard({
  next(step) {
    const ids = [...byId("my-chats").querySelectorAll("li[data-chat-id]")]
      .map((li) => /** @type {HTMLElement} */ (li).dataset.chatId ?? "");
    if (!ids.length) return;
    const at = ids.indexOf(store.activeId ?? "");
    const next =
      ids[at < 0 ? (step > 0 ? 0 : ids.length - 1) : (at + step + ids.length) % ids.length];
    openChat(next);
  },
  accept() {
    const offer = [...store.offers.keys()][0];
    const first =
      /** @type {HTMLElement | null} */ (byId("queue").querySelector("li[data-chat-id]"));
    const id = offer ??
      (store.activeId && store.queue.has(store.activeId) ? store.activeId : null) ??
      first?.dataset.chatId;
    if (id) accept(id);
    else toast(t("console.keys.nothing_to_accept"), "info");
  },
  reply() {
    if (byId("composer-wrap").hidden || byId("chat-box").hidden) return;
    view.composer.setMode("reply");
  },
  note() {
    if (byId("composer-wrap").hidden || byId("chat-box").hidden) return;
    view.composer.setMode("note");
  },
  transfer: () => view.transfer(),
  search() {
    route({ view: "search" });
    /** @type {HTMLInputElement} */ (byId("search-q")).focus();
  },
  back,
});

/** Labels search results carry, for chats whose notes this operator may not read. */
const foundLabels = new Map();
installSearch({
  open: (id, found) => {
    foundLabels.set(id, found.labels);
    openChat(id, "search");
  },
});

/** The language pickers (sign-in card and top bar): every catalogue there is. */
async function installLanguages() {
  const list = await languages();
  for (const el of document.querySelectorAll(".lang-picker")) {
    const select = /** @type {HTMLSelectElement} */ (el);
    select.replaceChildren(
      ...list.map((l) => h("option", { value: l.code, text: l.name, lang: l.code })),
    );
    select.value = document.documentElement.lang;
    select.addEventListener("change", () => setLanguage(select.value, storage));
  }
}

onLanguageChange((code) => {
  if (client) {
    const { text, tone } = connectionText(client.state);
    byId("conn-status").textContent = text;
    byId("conn-status").dataset.tone = tone;
  }
  for (const el of document.querySelectorAll(".lang-picker")) {
    /** @type {HTMLSelectElement} */ (el).value = code;
  }
  setBaseTitle(document.title);
  view.composer.localize();
  renderKeys();
  if (store.me) byId("me-role").textContent = t(`console.role.${store.me.role}`);
  store.changed();
});

await loadI18n({ storage });
localize(document);
installHints(() => token, () => store.activeId);
view.composer.localize();
installAlerts((id) => openChat(id));
await installLanguages();
const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) connect(saved);
else showView(null);
