// @ts-check
/**
 * The client widget (`/`, and inside the iframe of `/embed.js` with `?embed=1`). Two
 * conversations, each its own chat: support (start, queue, messages, rating) and, once an
 * operator assigns one, the client's lawyer — tabs with unread counts, both kept across reloads
 * and independent of each other. When nobody is online the start view becomes an offline message
 * form. Alerts (sound, title, favicon, notification) while the reader looks elsewhere.
 */
import { TypingNotifier } from "./protocol.js";
import { byId, connectionText, keepScrolledToBottom, safeStorage, show } from "./dom.js";
import {
  fmtDuration,
  lang,
  languages,
  loadI18n,
  localize,
  onLanguageChange,
  setLanguage,
  t,
} from "./i18n.js";
import { attachmentList, wireAttachButton, wireFileDrop } from "./attachments.js";
import { errorText } from "./errors.js";
import { Conversation } from "./widget_conv.js";
import {
  agentName,
  avatar,
  buildStars,
  noteText,
  queueText,
  renderMessages,
} from "./widget_view.js";
import { KEYS, WidgetApi } from "./widget_api.js";
import { Alerts } from "./widget_alerts.js";
import { clearErrors, el, setError } from "./widget_dom.js";

/** @typedef {import("./transports.js").Frame} Frame @typedef {"support" | "lawyer"} Kind */

const storage = safeStorage();
const params = new URLSearchParams(location.search);
const embedded = params.has("embed");
const api = new WidgetApi(storage);

const s = {
  /** @type {Record<Kind, Conversation | null>} */
  convs: { support: null, lawyer: null },
  /** @type {Kind} */
  active: "support",
  /** What the support tab shows without a chat: `start` or `offline`; `chat` with one. */
  view: "start",
  /** @type {import("./widget_api.js").Availability | null} */
  availability: null,
  score: 0,
  /** Chats whose rating the reader skipped. */
  skipped: new Set(),
  /** Embedded: whether the page's panel is open (the iframe is loaded before it is). */
  panelOpen: !embedded,
  /** From the embedding page (embed.js): who the site says the visitor is, and their details. */
  /** @type {Record<string, unknown> | null} */
  identity: null,
};
const myTyping = new TypingNotifier((on, chatId) =>
  convOf(chatId)?.client.notify("typing", { is_typing: on })
);
const alerts = new Alerts(
  /** @type {HTMLLinkElement} */ (byId("favicon")),
  () => t("widget.page_title"),
);

const active = () => s.convs[s.active];
const convOf = (/** @type {string} */ id) =>
  Object.values(s.convs).find((c) => c?.chatId === id) ?? null;
/** The reader is not looking: the tab is in the background, or the embed's panel is closed. */
const away = () => document.visibilityState !== "visible" || !s.panelOpen;

// ---- conversations ----

/**
 * Connects to a chat and shows it in its tab. `names`: staff names known already (the lawyer's,
 * from the support chat's `lawyer_assigned`); `fresh`: the chat appeared while the reader was
 * here, so staff messages its first replay brings alert too.
 */
function openConversation(
  /** @type {Kind} */ kind,
  /** @type {any} */ session,
  /** @type {Map<string, string>} */ names = new Map(),
  fresh = false,
) {
  s.convs[kind]?.stop();
  const c = new Conversation({
    kind,
    session,
    fresh,
    storage,
    storageKey: `${KEYS.support}.outbox.${session.chat_id}`,
    renewToken: (id) => api.chatToken(id),
  });
  for (const [id, name] of names) c.names.set(id, name);
  s.convs[kind] = c;
  let wasClosed = false;
  c.addEventListener("change", () => {
    // Closed live: the composer goes away, so focus goes to the rating (not lost on the body).
    if (c.closed && !wasClosed && c === active() && el.composer.contains(document.activeElement)) {
      queueMicrotask(() => el.rateTitle.focus());
    }
    wasClosed = c.closed;
    if (kind === "support") watchLawyer(c);
    render();
  });
  c.addEventListener("status", () => render());
  c.addEventListener("alert", (e) => onAlert(c, /** @type {CustomEvent} */ (e).detail));
  c.addEventListener("fatal", () => {
    // The token expired or the chat is gone for good.
    drop(kind);
    if (kind === "support") {
      setView(startView());
      el.startNotice.textContent = t("widget.start.previous_ended");
      show(el.startNotice);
    }
  });
  c.start();
  return c;
}

function drop(/** @type {Kind} */ kind) {
  const c = s.convs[kind];
  c?.stop();
  if (c) storage.removeItem(`${KEYS.support}.outbox.${c.chatId}`);
  s.convs[kind] = null;
  api.keep(KEYS[kind], null);
  if (kind === "lawyer" && s.active === "lawyer") s.active = "support";
  if (kind === "support") s.view = startView();
  render();
}

/** The lawyer chat the newest `lawyer_assigned` of the support chat names: opened when seen. */
function watchLawyer(/** @type {Conversation} */ support) {
  let newest = null;
  for (const [seq, f] of support.events) {
    if (f.type === "lawyer_assigned" && seq > (newest?.payload.seq ?? 0)) newest = f;
  }
  const id = newest?.payload.lawyer_chat_id;
  if (id && s.convs.lawyer?.chatId !== id && wantedLawyer !== id) void openLawyer(id, support.live);
}
/** @type {string | null} the lawyer chat being looked up */
let wantedLawyer = null;

async function openLawyer(/** @type {string} */ chatId, fresh = false) {
  wantedLawyer = chatId;
  const token = await api.chatToken(chatId).catch(() => null);
  if (wantedLawyer !== chatId) return;
  wantedLawyer = null;
  if (!token) return;
  const session = {
    chat_id: chatId,
    client_id: s.convs.support?.session.client_id ?? "",
    client_token: token,
  };
  api.keep(KEYS.lawyer, session);
  openConversation("lawyer", session, s.convs.support?.names, fresh);
  render();
}

/** At load: the lawyer chat kept here, else the visitor's newest open one (another device). */
async function findLawyer() {
  const kept = api.session(KEYS.lawyer);
  if (kept) openConversation("lawyer", kept);
  const chats = await api.myChats().catch(() => null);
  if (!chats) return;
  const lawyers = chats.filter((c) => c.kind === "lawyer");
  if (kept && !lawyers.some((c) => c.chat_id === kept.chat_id)) drop("lawyer");
  if (s.convs.lawyer) return;
  const open = lawyers.filter((c) => c.status !== "closed")
    .sort((a, b) => b.created_at.localeCompare(a.created_at))[0];
  if (open) void openLawyer(open.chat_id);
}

// ---- views ----

const startView = () => (s.availability?.operators_online === 0 ? "offline" : "start");

/** Shows a view of the support tab; errors of the view left behind go with it. */
function setView(/** @type {string} */ view, focus = true) {
  const changed = view !== s.view;
  s.view = view;
  clearErrors();
  show(el.startNotice, false);
  render();
  if (!focus || !changed) return;
  if (view === "chat") el.text.focus();
  else if (view === "offline") (el.offlineName.value ? el.offlineEmail : el.offlineName).focus();
}

function selectTab(/** @type {Kind} */ kind, focus = false) {
  if (!s.convs[kind] && kind === "lawyer") return;
  if (s.active !== kind) clearErrors();
  s.active = kind;
  render();
  if (focus) (kind === "support" ? el.tabSupport : el.tabLawyer).focus();
}

/** What the page showed last (see render). */
let shownMode = "";

function render() {
  const c = active();
  const support = s.convs.support;
  const lawyer = s.convs.lawyer;
  // Tabs only once there is a lawyer chat.
  show(el.tabs, lawyer !== null);
  for (
    const [kind, tab, panel, badge] of /** @type {const} */ ([
      ["support", el.tabSupport, el.supportPanel, el.unreadSupport],
      ["lawyer", el.tabLawyer, el.lawyerPanel, el.unreadLawyer],
    ])
  ) {
    const on = s.active === kind;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    show(panel, on);
    if (lawyer) {
      panel.setAttribute("role", "tabpanel");
      panel.setAttribute("aria-labelledby", tab.id);
    } else {
      panel.removeAttribute("role");
      panel.removeAttribute("aria-labelledby");
    }
    const n = s.convs[kind]?.unread() ?? 0;
    unreadBadge(badge, on ? 0 : n);
  }
  const view = support ? "chat" : s.view;
  show(el.startView, view === "start");
  show(el.offlineView, view === "offline");
  show(el.chatView, view === "chat");
  renderHeader(c);
  renderAvailability();
  for (
    const [conv, list]
      of /** @type {const} */ ([[support, el.messages], [lawyer, el.lawyerMessages]])
  ) {
    if (!conv) {
      list.replaceChildren();
      continue;
    }
    keepScrolledToBottom(list, () =>
      renderMessages(list, conv, {
        onRetry: (id) => conv.client.retryMessage(id),
        files: (files) => attachmentList(files, conv.client.token),
        onQuickReply: (text) => conv.client.sendMessage(text),
        onOpenLawyer: () => selectTab("lawyer", true),
      }));
  }
  const queued = support !== null && s.active === "support" && support.phase === "queued";
  show(el.queue, queued);
  if (support) {
    el.queueText.textContent = queueText(support, {
      email: support.session.email,
      hours: s.availability?.reply_promise_h,
    });
  }
  show(el.queueNotify, queued && alerts.permission === "default");
  const open = c !== null && !c.closed;
  show(el.composer, open);
  show(el.end, open);
  // The list shrinks to make room: it follows its bottom (followBottom in dom.js).
  show(el.typing, open && c.peerTyping);
  el.typingText.textContent = c?.agent
    ? t("widget.typing_named", { name: agentName(c.agent) })
    : t("widget.typing");
  const closed = c !== null && c.closed;
  const rating = closed && !c.rated && !s.skipped.has(c.chatId);
  // A new view (another tab, the chat closed, the rating done): errors of the old one go.
  const mode = [s.active, view, open ? "compose" : rating ? "rate" : closed ? "done" : ""].join();
  if (mode !== shownMode) clearErrors();
  shownMode = mode;
  show(el.rateView, rating);
  show(el.doneView, closed && !rating);
  el.doneText.textContent = !c ? "" : c.rated ? t("widget.done.thanks") : t("widget.done.ended");
  show(el.newChat, closed && c?.kind === "support");
  el.transcript.disabled = c === null;
  el.notify.setAttribute("aria-pressed", String(alerts.permission === "granted"));
  el.notify.disabled = alerts.permission === "denied" || alerts.permission === "unsupported";
  markSeen();
}

function renderHeader(/** @type {Conversation | null} */ c) {
  const agent = c?.agent ?? null;
  el.avatar.replaceChildren(avatar(agent?.name, "avatar"));
  el.title.textContent = agent
    ? agentName(agent)
    : c?.kind === "lawyer"
    ? t("widget.agent.lawyer")
    : t("widget.title");
  if (!c) {
    // No chat yet: whether anyone is there.
    const online = s.availability ? s.availability.operators_online > 0 : null;
    el.status.textContent = online === null
      ? t("widget.status.idle")
      : online
      ? t("widget.status.online")
      : t("widget.status.away");
    el.status.dataset.tone = online ? "ok" : "idle";
    el.status.title = "";
    return;
  }
  const st = c.client.state;
  // A closed chat says so (not "Connected"); a connection problem still shows, for the rating.
  const { text, tone } = c.closed && st.status === "open"
    ? { text: t("widget.status.ended"), tone: "idle" }
    : connectionText(st);
  el.status.textContent = text;
  el.status.dataset.tone = tone;
  el.status.title = st.transport === "sse" ? t("widget.status.sse_hint") : "";
}

function renderAvailability() {
  const a = s.availability;
  show(el.availability, a !== null && a.operators_online > 0);
  if (a && a.operators_online > 0) {
    el.availability.textContent = a.estimated_wait_s !== null && a.estimated_wait_s >= 60
      ? t("widget.avail.online_wait", { time: fmtDuration(a.estimated_wait_s) })
      : t("widget.avail.online");
  }
  el.offlinePromise.textContent = t("widget.offline.promise", { count: a?.reply_promise_h ?? 24 });
}

/** A tab's unread count: a number to see, and words for a screen reader. */
function unreadBadge(/** @type {HTMLElement} */ badge, /** @type {number} */ n) {
  badge.replaceChildren();
  if (n === 0) return;
  const num = document.createElement("span");
  num.className = "badge bad";
  num.setAttribute("aria-hidden", "true");
  num.textContent = n > 99 ? "99+" : String(n);
  const words = document.createElement("span");
  words.className = "visually-hidden";
  words.textContent = t("widget.tabs.unread", { count: n });
  badge.append(num, words);
}

// ---- read state and alerts ----

let toldUnread = -1;
/** What is in front of the reader is seen; the counts (title, favicon, embed button) follow. */
function markSeen() {
  if (!away()) active()?.markSeen();
  const total = (s.convs.support?.unread() ?? 0) + (s.convs.lawyer?.unread() ?? 0);
  alerts.setCount(total);
  if (embedded && total !== toldUnread) {
    toldUnread = total;
    const label = total > 0
      ? t("widget.embed.open_unread", { count: total })
      : t("widget.embed.open");
    parent.postMessage({ type: "supportchat:unread", count: total, label }, "*");
  }
}

function onAlert(/** @type {Conversation} */ c, /** @type {Frame} */ f) {
  if (!away()) return;
  const p = f.payload;
  const who = agentName(
    c.agent ?? { name: c.names.get(p.sender_id) ?? null, role: p.sender_role ?? "operator" },
  );
  const title = c.kind === "lawyer"
    ? t("widget.alert.lawyer", { name: who })
    : f.type === "message"
    ? t("widget.alert.message", { name: who })
    : t("widget.page_title");
  // A message says itself; an event says what its note in the list says.
  const body = f.type === "message" ? p.message || t("widget.alert.files") : noteText(f, c) ?? "";
  alerts.notify({ title, body, tag: `${c.chatId}:${p.seq}`, onClick: () => selectTab(c.kind) });
}

// ---- user actions ----

async function startChat(/** @type {Event} */ e) {
  e.preventDefault();
  const name = el.name.value.trim();
  api.name = name;
  await create({ ...(name ? { name } : {}) }, el.startBtn, "start-error");
}

async function sendOffline(/** @type {Event} */ e) {
  e.preventDefault();
  const name = el.offlineName.value.trim();
  const email = el.offlineEmail.value.trim();
  api.name = name;
  await create(
    { ...(name ? { name } : {}), email, message: el.offlineMessage.value.trim(), offline: true },
    el.offlineBtn,
    "offline-error",
  );
  if (s.convs.support) el.offlineMessage.value = "";
}

/**
 * Starts a support chat (`POST /chats`) and shows it. A refusal is said in the form; after a 429
 * or 503 the button waits as long as the server asked.
 * @param {Record<string, unknown>} body @param {HTMLButtonElement} button @param {string} errorId
 */
async function create(body, button, errorId) {
  button.disabled = true;
  clearErrors(); // an earlier attempt's error goes while this one runs
  let retryAfter = 0;
  try {
    const created = await api.createChat({ ...identityBody(s.identity), ...body });
    const session = {
      chat_id: created.chat_id,
      client_id: created.client_id,
      client_token: created.client_token,
      ...(body.offline ? { email: String(body.email) } : {}),
    };
    api.keep(KEYS.support, session);
    const c = openConversation("support", session);
    c.position = created.position ?? null;
    if (created.status === "bot") c.phase = "bot";
    s.active = "support";
    setView("chat");
  } catch (err) {
    setError(errorId, errorText(err));
    retryAfter = /** @type {any} */ (err).retryAfterS ?? 0;
  } finally {
    if (retryAfter > 0) setTimeout(() => (button.disabled = false), retryAfter * 1000);
    else button.disabled = false;
  }
}

/** One click from a closed chat to a new one (the offline form when nobody is online). */
async function newChat() {
  drop("support");
  s.active = "support";
  await refreshAvailability();
  if (startView() === "offline") {
    el.offlineName.value = api.name;
    return setView("offline");
  }
  const name = api.name;
  setView("start", false);
  await create(name ? { name } : {}, el.newChat, "start-error");
  if (!s.convs.support) el.startBtn.focus();
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

function send(/** @type {Event} */ e) {
  e.preventDefault();
  const c = active();
  const text = el.text.value.trim();
  if (!text || !c || c.closed) return;
  c.client.sendMessage(text);
  el.text.value = "";
  myTyping.stop();
  el.text.focus();
}

let endArmed = false;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let endTimer;
function endChat() {
  // Two clicks: the first asks for confirmation.
  if (!endArmed) {
    endArmed = true;
    el.end.textContent = t("widget.end_confirm");
    el.end.classList.add("danger");
    endTimer = setTimeout(disarmEnd, 4000);
    return;
  }
  disarmEnd();
  active()?.client.request("close_chat", { reason: t("widget.closed_reason") })
    .catch((err) => setError("chat-error", errorText(err)));
}

function disarmEnd() {
  clearTimeout(endTimer);
  endArmed = false;
  el.end.textContent = t("widget.end");
  el.end.classList.remove("danger");
}

async function rate() {
  const c = active();
  if (!c || s.score < 1) return;
  el.rateBtn.disabled = true;
  show(el.rateError, false);
  const comment = el.comment.value.trim();
  try {
    await c.client.request("rate", { score: s.score, ...(comment ? { comment } : {}) });
    c.rated = true;
    clearErrors();
    render();
    (c.kind === "support" ? el.newChat : el.doneTranscript).focus();
  } catch (err) {
    el.rateBtn.disabled = false;
    setError("rate-error", errorText(err));
  }
}

function skipRating() {
  const c = active();
  if (!c) return;
  s.skipped.add(c.chatId);
  clearErrors();
  render();
  (c.kind === "support" ? el.newChat : el.doneTranscript).focus();
}

async function transcript() {
  const c = active();
  if (!c) return;
  try {
    await api.downloadTranscript(c.session, lang());
  } catch (err) {
    setError("chat-error", errorText(err));
  }
}

async function refreshAvailability() {
  s.availability = await api.availability();
  if (!s.convs.support && (s.view === "start" || s.view === "offline")) {
    const want = startView();
    if (want === "offline" && !el.offlineName.value) {
      el.offlineName.value = el.name.value || api.name;
    }
    setView(want, false);
  } else render();
}

// ---- wiring ----

el.startForm.addEventListener("submit", startChat);
el.offlineForm.addEventListener("submit", sendOffline);
el.composer.addEventListener("submit", send);
const sendFiles = wireAttachButton(
  el.attachBtn,
  el.attachInput,
  () => {
    const c = active();
    return c && !c.closed ? { token: c.client.token, chatId: c.chatId } : null;
  },
  (ids, to) => {
    // The text typed so far goes with the files.
    clearErrors();
    convOf(to.chatId)?.client.sendMessage(el.text.value.trim(), null, ids);
    el.text.value = "";
  },
  (message) => setError("attach-error", message),
);
wireFileDrop({
  zone: el.widget,
  paste: el.text,
  onFiles: (files) => void sendFiles(files),
  enabled: () => active() !== null && !active()?.closed,
});
el.text.addEventListener("input", () => {
  const c = active();
  if (c) myTyping.input(c.chatId);
});
el.text.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) send(e);
});
el.end.addEventListener("click", endChat);
el.rateBtn.addEventListener("click", rate);
el.skipBtn.addEventListener("click", skipRating);
el.newChat.addEventListener("click", newChat);
el.transcript.addEventListener("click", () => (closeMenu(), transcript()));
el.doneTranscript.addEventListener("click", transcript);
const redrawStars = buildStars(el.stars, (n) => {
  s.score = n;
  el.rateBtn.disabled = false;
});
for (
  const [kind, tab] of /** @type {const} */ ([["support", el.tabSupport], ["lawyer", el.tabLawyer]])
) {
  tab.addEventListener("click", () => selectTab(kind));
  tab.addEventListener("keydown", (e) => {
    if (["ArrowLeft", "ArrowRight", "Home", "End"].includes(e.key)) {
      e.preventDefault();
      selectTab(kind === "support" ? "lawyer" : "support", true);
    }
  });
}

// The menu: language, transcript, notifications.
function closeMenu() {
  show(el.menu, false);
  el.menuBtn.setAttribute("aria-expanded", "false");
}
el.menuBtn.addEventListener("click", () => {
  const open = el.menu.hidden !== false;
  show(el.menu, open);
  el.menuBtn.setAttribute("aria-expanded", String(open));
  if (open) el.langSelect.focus();
});
document.addEventListener("pointerdown", (e) => {
  const target = /** @type {Node} */ (e.target);
  if (!el.menu.hidden && !el.menu.contains(target) && !el.menuBtn.contains(target)) closeMenu();
});
const askNotifications = async () => {
  await alerts.askPermission();
  render();
};
el.notify.addEventListener("click", askNotifications);
el.queueNotify.addEventListener("click", askNotifications);
el.langSelect.addEventListener("change", () => void setLanguage(el.langSelect.value, storage));
onLanguageChange(() => {
  disarmEnd();
  redrawStars();
  s.score = 0;
  el.rateBtn.disabled = true;
  clearErrors();
  render();
  tellParent();
});

document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape") return;
  if (!el.menu.hidden) {
    closeMenu();
    el.menuBtn.focus();
  } else if (embedded) parent.postMessage({ type: "supportchat:close" }, "*");
});
document.addEventListener("visibilitychange", () => render());
byId("embed-origin").textContent = location.origin;

/** Embedded: the page's button and frame take their labels from here (the catalogue). */
function tellParent() {
  if (!embedded) return;
  parent.postMessage({
    type: "supportchat:ready",
    labels: {
      open: t("widget.embed.open"),
      close: t("widget.embed.close"),
      frame: t("widget.page_title"),
    },
  }, "*");
  toldUnread = -1; // the button's label is in the new language too
  markSeen();
}

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
    const opened = e.data.open && !s.panelOpen;
    s.panelOpen = e.data.open;
    render();
    if (opened) focusView();
  });
}

/** Where focus goes when the panel opens: what the reader most likely wants to do next. */
function focusView() {
  const c = active();
  if (c && !c.closed) el.text.focus();
  else if (c) (el.rateView.hidden ? el.newChat : el.rateTitle).focus();
  else if (s.view === "offline") el.offlineName.focus();
  else el.name.focus();
}

// The language before anything is drawn. Embedded, the reader's own choice wins over the site's
// `locale`; on the page itself `?lang=` wins.
const chosen = (() => {
  try {
    return storage.getItem("supportchat.lang");
  } catch {
    return null;
  }
})();
await loadI18n({ storage, ...(embedded ? { asked: chosen ?? params.get("lang") } : {}) });
localize(document);
redrawStars(); // built before the catalogue was loaded: their names were the keys
el.langSelect.replaceChildren(
  ...(await languages()).map((l) => new Option(l.name, l.code, false, l.code === lang())),
);
el.name.value = api.name;
const saved = api.session(KEYS.support);
if (saved) {
  openConversation("support", saved);
  s.view = "chat";
}
render();
tellParent();
void findLawyer();
await refreshAvailability();
setInterval(() => {
  if (!s.convs.support) void refreshAvailability();
}, 30_000);
