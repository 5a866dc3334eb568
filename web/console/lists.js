// @ts-check
/**
 * The console's sidebar: mentions of me, offers (auto routing), the live queue with each
 * client's name and first message, and "my chats" (filterable by label). Rows are list items
 * holding buttons (list semantics intact, every row reachable by Tab), kept across re-renders.
 */
import { byId, h, show } from "../dom.js";
import { fmtDuration, fmtNumber, fmtWhen, lang, t } from "../i18n.js";
import { channelBadge, clientName, visitorName } from "./channel.js";
import { preview } from "./previews.js";
import { reconcile } from "./reconcile.js";

/**
 * @typedef {import("./store.js").Store} Store
 * @typedef {import("./store.js").QueueEntry} QueueEntry
 * @typedef {import("./store.js").ChatState} ChatState
 * @typedef {{ accept(chatId: string): void, open(chatId: string): void,
 *   openMention(chatId: string): void }} Actions
 */

/** Seconds since an ISO time. */
const since = (/** @type {string} */ iso) => (Date.now() - Date.parse(iso)) / 1000;

/** Queue rows with a preview (history read over REST): the first this many. */
const PREVIEWED = 30;

/** @param {Store} store @param {Actions} act */
export function renderLists(store, act) {
  renderMentions(store, act);
  renderOffers(store, act);
  renderQueue(store, act);
  renderMyChats(store, act);
}

/** @param {Store} store @param {Actions} act */
function renderMentions(store, act) {
  const items = store.mentions.slice(0, 10);
  reconcile(
    byId("mentions"),
    items.map((m) => {
      const by = store.nameOf(m.by);
      return {
        key: `${m.chat_id}:${m.note_seq}`,
        sig: `${lang()}|${by}`,
        build: () =>
          h(
            "li",
            { class: "item mention-item", dataset: { chatId: m.chat_id } },
            h(
              "button",
              {
                type: "button",
                class: "row-btn",
                on: { click: () => act.openMention(m.chat_id) },
              },
              h("strong", { text: t("console.mentions.by", { name: by }) }),
              h("span", { class: "muted small preview", text: m.text }),
            ),
          ),
      };
    }),
  );
  show(byId("mentions-panel"), items.length > 0);
}

/** @param {Store} store @param {Actions} act */
function renderOffers(store, act) {
  const offers = [...store.offers.values()];
  reconcile(
    byId("offers"),
    offers.map((o) => {
      const left = Math.max(0, Math.ceil((Date.parse(o.expires_at ?? "") - Date.now()) / 1000));
      const p = preview(o.chat_id);
      const name = visitorName(o.client_id, p?.name);
      return {
        key: o.chat_id,
        sig: `${lang()}|${left}|${name}|${p?.text}`,
        build: () =>
          h(
            "li",
            { class: "item offer", dataset: { chatId: o.chat_id } },
            h(
              "div",
              { class: "item-main" },
              h("strong", { text: name }),
              p?.text && h("span", { class: "small preview", text: p.text }),
              h("span", {
                class: "muted small",
                text: t("console.offers.left", { time: fmtDuration(left) }),
              }),
            ),
            h("button", {
              type: "button",
              class: "primary small accept",
              text: t("console.queue.accept"),
              on: { click: () => act.accept(o.chat_id) },
            }),
          ),
      };
    }),
  );
  show(byId("offers-panel"), offers.length > 0);
}

/** @param {Store} store @param {Actions} act */
function renderQueue(store, act) {
  const entries = [...store.queue.values()].sort((a, b) =>
    b.priority - a.priority || Date.parse(a.waiting_since) - Date.parse(b.waiting_since)
  );
  const canAccept = store.myStatus === "online";
  reconcile(
    byId("queue"),
    entries.map((q, i) => {
      const p = i < PREVIEWED ? preview(q.chat_id) : null;
      const name = visitorName(q.client_id, p?.name);
      const waited = fmtDuration(since(q.waiting_since));
      const offered = store.offers.has(q.chat_id);
      const selected = store.activeId === q.chat_id;
      return {
        key: q.chat_id,
        sig: [
          lang(),
          i,
          name,
          p?.text,
          p?.offline,
          waited,
          q.priority,
          offered,
          canAccept,
          selected,
        ]
          .join("|"),
        build: () =>
          h(
            "li",
            {
              class: `item queue-item${selected ? " selected" : ""}`,
              dataset: { chatId: q.chat_id },
            },
            h("span", { class: "pos", "aria-hidden": "true", text: fmtNumber(i + 1) }),
            h(
              "button",
              {
                type: "button",
                class: "row-btn",
                on: { click: () => act.open(q.chat_id) },
              },
              h(
                "span",
                { class: "row-line" },
                h("strong", { text: name, title: q.client_id }),
                q.priority !== 0 && h("span", {
                  class: `badge ${q.priority > 0 ? "warn" : ""}`,
                  title: t("console.queue.priority_hint"),
                  text: t("console.queue.priority", { priority: q.priority }),
                }),
                p?.offline && h("span", { class: "badge", text: t("console.queue.offline") }),
                offered && h("span", { class: "badge primary", text: t("console.queue.offered") }),
              ),
              h("span", {
                class: "small preview",
                text: p ? p.text || t("console.queue.no_message") : "",
              }),
              h("span", {
                class: "muted small",
                text: t("console.queue.waiting", { time: waited }),
              }),
            ),
            h("button", {
              type: "button",
              class: "primary small accept",
              text: t("console.queue.accept"),
              "aria-label": t("console.queue.accept_label", { name }),
              disabled: !canAccept,
              title: canAccept ? t("console.queue.accept_hint") : t("console.queue.need_online"),
              on: { click: () => act.accept(q.chat_id) },
            }),
          ),
      };
    }),
  );
  byId("queue-count").textContent = fmtNumber(entries.length + store.queueUnlisted);
  show(byId("queue-empty"), entries.length === 0);
  show(byId("queue-panel"), store.me?.role !== "lawyer");
}

/** @param {Store} store @param {Actions} act */
function renderMyChats(store, act) {
  const rank = (/** @type {ChatState} */ c) => (c.status === "active" ? 0 : 1);
  const filter = store.labelFilter;
  const chats = store.mine()
    .filter((c) => !filter || c.labels.includes(filter))
    .sort((a, b) => rank(a) - rank(b) || b.lastActivity - a.lastActivity);
  reconcile(
    byId("my-chats"),
    chats.map((c) => {
      const selected = c.id === store.activeId;
      const unread = selected && document.visibilityState === "visible" ? 0 : store.unread(c);
      const last = store.lastMessage(c);
      const typing = c.peerTypingUntil > Date.now();
      const name = clientName(c);
      const text = typing ? t("console.mine.typing") : last
        ? last.payload.message ||
          t("console.msg.files", { count: last.payload.attachments?.length ?? 0 })
        : t("console.mine.no_messages");
      const when = c.lastActivity ? fmtWhen(c.lastActivity) : "";
      return {
        key: c.id,
        sig: [
          lang(),
          selected,
          unread,
          text,
          typing,
          name,
          c.status,
          c.title,
          c.labels,
          when,
          c.kind,
        ]
          .join("|"),
        build: () =>
          h(
            "li",
            {
              class: `item chat-item${selected ? " selected" : ""} ${c.status}`,
              dataset: { chatId: c.id },
            },
            h(
              "button",
              {
                type: "button",
                class: "row-btn",
                "aria-current": selected ? "true" : undefined,
                on: { click: () => act.open(c.id) },
              },
              h(
                "span",
                { class: "row-line" },
                h("strong", { text: name, title: c.clientId || c.id }),
                channelBadge(c),
                c.kind === "lawyer" &&
                  h("span", { class: "badge", text: t("console.chat.kind_lawyer") }),
                c.status !== "active" &&
                  h("span", {
                    class: `badge state-${c.status}`,
                    text: t(`console.mine.state_${c.status}`),
                  }),
                h("span", { class: "when muted small", text: when }),
              ),
              c.title && h("span", { class: "small chat-item-title", text: c.title }),
              h("span", { class: `small preview${typing ? " typing-preview" : ""}`, text }),
              c.labels.length > 0 && h(
                "span",
                { class: "chips" },
                ...c.labels.map((l) => h("span", { class: "chip", text: l })),
              ),
            ),
            unread > 0 && h("span", {
              class: "badge primary unread",
              title: t("console.mine.unread", { count: unread }),
              text: fmtNumber(unread),
            }),
          ),
      };
    }),
  );
  show(byId("chats-empty"), chats.length === 0);
  byId("chats-empty").textContent = filter
    ? t("console.mine.empty_label")
    : t("console.mine.empty");
  renderLabelFilter(store);
}

/** The label filter's options: every label on a chat of mine. @param {Store} store */
function renderLabelFilter(store) {
  const select = /** @type {HTMLSelectElement} */ (byId("label-filter"));
  const labels = store.allLabels();
  const sig = `${lang()}|${labels.join("\n")}`;
  if (select.dataset.sig !== sig) {
    select.dataset.sig = sig;
    select.replaceChildren(
      h("option", { value: "", text: t("console.labels.all") }),
      ...labels.map((l) => h("option", { value: l, text: l })),
    );
  }
  if (!labels.includes(store.labelFilter)) store.labelFilter = "";
  select.value = store.labelFilter;
  select.parentElement && show(select.parentElement, labels.length > 0 || !!store.labelFilter);
}
