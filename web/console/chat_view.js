// @ts-check
/**
 * The console's chat view: the conversation of the selected chat (full history, notes merged
 * in), typing and read state, the reply box, and the actions: transfer and assign a lawyer (each
 * with a picker of online staff and their load), close, accept (a queued chat opened as a
 * preview). A chat that is not this operator's (a search result, a closed chat, a mention, a
 * lawyer's linked support chat) is shown read-only.
 */
import { byId, keepScrolledToBottom, show } from "../dom.js";
import { t } from "../i18n.js";
import { FieldErrors, openDialog } from "./dialog.js";
import { channelBadge, clientName } from "./channel.js";
import { reconcile } from "./reconcile.js";
import { timelineRows } from "./timeline.js";
import { Composer } from "./composer.js";
import { roster } from "./roster.js";
import { staffPicker, unavailableReason } from "./picker.js";

/**
 * @typedef {import("./store.js").Store} Store
 * @typedef {import("./store.js").ChatState} ChatState
 * @typedef {import("../chat_client.js").ChatClient} ChatClient
 */

export class ChatView {
  #store;
  #client;
  /** @type {import("../outbox.js").OutboxItem[]} */
  outbox = [];
  composer;
  /** @type {(chatId: string) => void} */
  onAccept = () => {};
  /** @type {() => void} */
  onBack = () => {};
  /** What the conversation showed last (its rows' keys and signatures). */
  #sig = "";

  /** @param {Store} store @param {() => ChatClient | null} client */
  constructor(store, client) {
    this.#store = store;
    this.#client = client;
    this.composer = new Composer(store, client);
    byId("transfer-btn").addEventListener("click", () => this.transfer());
    byId("lawyer-btn").addEventListener("click", () => this.#lawyer());
    byId("close-btn").addEventListener("click", () => this.#close());
    byId("dismiss-btn").addEventListener("click", () => {
      if (store.activeId) store.dismiss(store.activeId);
    });
    byId("preview-accept-btn").addEventListener("click", () => {
      if (store.activeId) this.onAccept(store.activeId);
    });
    byId("back-btn").addEventListener("click", () => this.onBack());
    byId("context-btn").addEventListener("click", () => {
      const open = !document.body.classList.contains("context-open");
      document.body.classList.toggle("context-open", open);
      byId("context-btn").setAttribute("aria-expanded", String(open));
    });
    document.addEventListener("visibilitychange", () => this.markRead());
  }

  get #chat() {
    const id = this.#store.activeId;
    return id ? this.#store.chats.get(id) ?? null : null;
  }

  /** What the operator may do with the open chat. @param {ChatState} c */
  #can(c) {
    const role = this.#store.me?.role;
    const live = c.mine && !c.readonly;
    const write = live && c.status === "active";
    return {
      live,
      write,
      route: write && role !== "lawyer" && c.kind === "support",
      accept: !c.mine && this.#store.queue.has(c.id) && role !== "lawyer",
    };
  }

  render() {
    const c = this.#chat;
    show(byId("chat-placeholder"), !c);
    show(byId("chat-box"), !!c);
    document.body.classList.toggle("chat-open", !!c);
    this.composer.follow(c?.id ?? null);
    if (!c) return;
    const can = this.#can(c);
    const badge = channelBadge(c);
    const title = byId("chat-title");
    title.replaceChildren(clientName(c), ...(badge ? [" ", badge] : []));
    const state = byId("chat-state");
    const status = !c.mine && c.status === "waiting"
      ? "queued"
      : !c.mine && c.status === "active"
      ? "other"
      : c.status;
    state.textContent = t(`console.state.${status}`);
    state.className = `badge state-${c.status}`;
    const sub = [];
    if (c.title) sub.push(c.title);
    if (c.kind === "lawyer") sub.push(t("console.chat.kind_lawyer"));
    sub.push(t("console.chat.id", { id: c.id.slice(0, 8) }));
    if (c.rating) sub.push(`${"★".repeat(c.rating.score)}${"☆".repeat(5 - c.rating.score)}`);
    byId("chat-sub").textContent = sub.join(" · ");
    byId("chat-sub").title = c.id;
    show(byId("transfer-btn"), can.route);
    show(byId("lawyer-btn"), can.route);
    show(byId("close-btn"), can.write);
    show(byId("dismiss-btn"), c.mine && !can.write);
    show(byId("preview-accept-btn"), can.accept);
    /** @type {HTMLButtonElement} */ (byId("preview-accept-btn")).disabled =
      this.#store.myStatus !== "online";
    show(byId("composer-wrap"), can.write);
    byId("chat-box").classList.toggle("readonly", !can.live);
    const banner = byId("readonly-banner");
    show(banner, !can.live);
    if (!can.live) {
      banner.textContent = c.status === "closed"
        ? t("console.readonly.closed")
        : can.accept
        ? t("console.readonly.queued")
        : t("console.readonly.other");
    }
    const list = byId("chat-messages");
    const log = byId("chat-log");
    const rows = timelineRows(c, this.#store, {
      outbox: this.outbox,
      token: this.#client()?.token,
    });
    const typing = can.write && c.peerTypingUntil > Date.now();
    const sig = `${c.id}|${typing}|${rows.map((r) => `${r.key}:${r.sig}`).join("|")}`;
    // Only a change is followed to the bottom: the every-second redraw must not pull a reader
    // who scrolls up (Home, PageUp) back down.
    if (sig !== this.#sig) {
      this.#sig = sig;
      keepScrolledToBottom(log, () => {
        reconcile(list, rows);
        show(byId("chat-typing"), typing);
      });
    }
    this.markRead();
  }

  /** Reports the newest client message as read while the chat is on screen. */
  markRead() {
    const c = this.#chat;
    const client = this.#client();
    if (!c || !client || document.visibilityState !== "visible" || c.status !== "active") return;
    if (!c.mine || c.readonly) return;
    const top = this.#store.lastIncomingSeq(c);
    if (top <= c.readByMe || client.state.status !== "open") return;
    c.readByMe = top; // optimistic; the stored `read` event confirms it
    client.request("read", { chat_id: c.id, seq: top }).catch(() => (c.readByMe = 0));
  }

  /** Sends a request; a refusal becomes an Error with the server's message. */
  async #ask(/** @type {string} */ type, /** @type {Record<string, unknown>} */ payload) {
    const client = this.#client();
    if (!client) throw new Error("not connected");
    await client.request(type, payload);
  }

  /** The transfer dialog: a colleague from the list, or back to the queue; a reason. */
  async transfer() {
    const c = this.#chat;
    if (!c || !this.#can(c).route) return;
    const me = this.#store.me?.user_id;
    const staff = (await roster(0).catch(() => [])).filter((e) =>
      e.role === "operator" && e.operator_id !== me
    );
    const picker = staffPicker({
      name: "target",
      label: t("console.transfer.to"),
      entries: staff,
      disabled: unavailableReason,
    });
    openDialog({
      title: t("console.transfer.title"),
      ok: t("console.transfer.ok"),
      wide: true,
      fields: [
        { name: "target", label: t("console.transfer.to"), type: "custom", custom: picker },
        { name: "to_queue", label: t("console.transfer.to_queue"), type: "checkbox" },
        {
          name: "reason",
          label: t("console.transfer.reason"),
          required: true,
          placeholder: t("console.transfer.reason_placeholder"),
        },
      ],
      onSubmit: async (v) => {
        /** @type {Record<string, string>} */
        const bad = {};
        if (!v.to_queue && !v.target) bad.target = t("console.transfer.pick_one");
        if (v.to_queue && v.target) bad.target = t("console.transfer.not_both");
        if (!v.reason) bad.reason = t("console.form.required");
        if (Object.keys(bad).length) throw new FieldErrors(bad);
        await this.#ask("transfer_chat", {
          chat_id: c.id,
          reason: v.reason,
          ...(v.to_queue ? { to_queue: true } : { target_operator_id: v.target }),
        });
      },
    });
  }

  async #lawyer() {
    const c = this.#chat;
    if (!c) return;
    const lawyers = (await roster(0).catch(() => [])).filter((e) => e.role === "lawyer");
    const picker = staffPicker({
      name: "lawyer",
      label: t("console.lawyer.who"),
      entries: lawyers,
    });
    openDialog({
      title: t("console.lawyer.title"),
      ok: t("console.lawyer.ok"),
      wide: true,
      fields: [
        { name: "lawyer", label: t("console.lawyer.who"), type: "custom", custom: picker },
        {
          name: "reason",
          label: t("console.lawyer.reason"),
          type: "textarea",
          placeholder: t("console.lawyer.reason_placeholder"),
        },
      ],
      onSubmit: async (v) => {
        if (!v.lawyer) throw new FieldErrors({ lawyer: t("console.lawyer.pick") });
        await this.#ask("assign_lawyer", {
          chat_id: c.id,
          lawyer_id: v.lawyer,
          ...(v.reason ? { reason: v.reason } : {}),
        });
      },
    });
  }

  #close() {
    const c = this.#chat;
    if (!c) return;
    openDialog({
      title: t("console.close.title"),
      ok: t("console.chat.close"),
      danger: true,
      fields: [{
        name: "reason",
        label: t("console.close.reason"),
        placeholder: t("console.close.reason_placeholder"),
      }],
      onSubmit: (v) =>
        this.#ask("close_chat", { chat_id: c.id, ...(v.reason ? { reason: v.reason } : {}) }),
    });
  }
}
