// @ts-check
/** The console's sidebar: offers (auto routing), the live queue and "my chats". */
import { byId, fmtDuration, h, show } from "../dom.js";
import { channelBadge, clientName } from "./channel.js";

/**
 * @typedef {import("./store.js").Store} Store
 * @typedef {import("./store.js").QueueEntry} QueueEntry
 * @typedef {import("./store.js").ChatState} ChatState
 */

const STATUS_LABEL = {
  active: "active",
  waiting: "returned",
  closed: "closed",
  gone: "transferred",
};

/** Seconds since an ISO time. */
const since = (/** @type {string} */ iso) => (Date.now() - Date.parse(iso)) / 1000;

/**
 * @param {Store} store
 * @param {{ accept(chatId: string): void, open(chatId: string): void }} act
 */
export function renderLists(store, act) {
  renderOffers(store, act);
  renderQueue(store, act);
  renderMyChats(store, act);
}

/** @param {Store} store @param {{ accept(chatId: string): void }} act */
function renderOffers(store, act) {
  const items = [...store.offers.values()].map((o) => {
    const left = Math.max(0, Math.ceil((Date.parse(o.expires_at ?? "") - Date.now()) / 1000));
    return h(
      "li",
      { class: "item offer", dataset: { chatId: o.chat_id } },
      h(
        "div",
        { class: "item-main" },
        h("strong", { text: o.client_id }),
        h("span", { class: "muted small", text: `accept within ${left} s` }),
      ),
      h("button", {
        type: "button",
        class: "primary small",
        text: "Accept",
        on: { click: () => act.accept(o.chat_id) },
      }),
    );
  });
  byId("offers").replaceChildren(...items);
  show(byId("offers-panel"), items.length > 0);
}

/** @param {Store} store @param {{ accept(chatId: string): void }} act */
function renderQueue(store, act) {
  const entries = [...store.queue.values()].sort((a, b) =>
    b.priority - a.priority || Date.parse(a.waiting_since) - Date.parse(b.waiting_since)
  );
  const canAccept = store.myStatus === "online";
  const items = entries.map((q, i) =>
    h(
      "li",
      { class: "item", dataset: { chatId: q.chat_id } },
      h("span", { class: "pos", text: String(i + 1) }),
      h(
        "div",
        { class: "item-main" },
        h(
          "div",
          {},
          h("strong", { text: q.client_id, title: q.client_id }),
          h("span", {
            class: `badge ${q.priority > 0 ? "warn" : ""}`,
            title: "Priority (higher goes first)",
            text: `P${q.priority}`,
          }),
          store.offers.has(q.chat_id) && h("span", { class: "badge primary", text: "offered" }),
        ),
        h("span", { class: "muted small", text: `waiting ${fmtDuration(since(q.waiting_since))}` }),
      ),
      h("button", {
        type: "button",
        class: "primary small accept",
        text: "Accept",
        disabled: !canAccept,
        title: canAccept ? "Take this chat" : "Set your status to online to take chats",
        on: { click: () => act.accept(q.chat_id) },
      }),
    )
  );
  byId("queue").replaceChildren(...items);
  byId("queue-count").textContent = String(entries.length + store.queueUnlisted);
  show(byId("queue-empty"), entries.length === 0);
}

/** @param {Store} store @param {{ open(chatId: string): void }} act */
function renderMyChats(store, act) {
  const rank = (/** @type {ChatState} */ c) => (c.status === "active" ? 0 : 1);
  const chats = store.mine().sort((a, b) => rank(a) - rank(b) || b.lastActivity - a.lastActivity);
  const items = chats.map((c) => {
    const unread = c.id === store.activeId && document.visibilityState === "visible"
      ? 0
      : store.unread(c);
    const last = [...c.events.values()].filter((f) => f.type === "message")
      .sort((a, b) => b.payload.seq - a.payload.seq)[0];
    const typing = c.peerTypingUntil > Date.now();
    return h(
      "li",
      {
        class: `item chat-item${c.id === store.activeId ? " selected" : ""} ${c.status}`,
        dataset: { chatId: c.id },
        tabindex: "0",
        role: "button",
        on: {
          click: () => act.open(c.id),
          keydown: (/** @type {KeyboardEvent} */ e) => e.key === "Enter" && act.open(c.id),
        },
      },
      h(
        "div",
        { class: "item-main" },
        h(
          "div",
          {},
          h("strong", { text: clientName(c) || c.id.slice(0, 8), title: c.clientId || c.id }),
          channelBadge(c),
          h("span", { class: `badge state-${c.status}`, text: STATUS_LABEL[c.status] }),
        ),
        c.title && h("span", { class: "small chat-item-title", text: c.title, title: c.title }),
        h("span", {
          class: `muted small preview${typing ? " typing-preview" : ""}`,
          text: typing ? "typing…" : last ? last.payload.message : "No messages yet",
        }),
      ),
      unread > 0 &&
        h("span", { class: "badge primary unread", title: "Unread", text: String(unread) }),
    );
  });
  byId("my-chats").replaceChildren(...items);
  show(byId("chats-empty"), chats.length === 0);
}
