// @ts-check
/**
 * The console's chat view: the conversation of the selected chat (full history), typing and
 * read state, the reply box, and the actions transfer, assign lawyer and close.
 */
import { byId, endsRun, fmtTime, h, keepScrolledToBottom, show } from "../dom.js";
import { TypingNotifier } from "../protocol.js";
import { openDialog } from "./dialog.js";
import { channelBadge, clientName } from "./channel.js";
import { botItem } from "../bot_view.js";
import { attachmentList, wireAttachButton } from "../attachments.js";

/**
 * @typedef {import("./store.js").Store} Store
 * @typedef {import("./store.js").ChatState} ChatState
 * @typedef {import("../transports.js").Frame} Frame
 * @typedef {import("../chat_client.js").ChatClient} ChatClient
 */

const HIDDEN = new Set(["read"]);

const STATE_TEXT = {
  active: "Active",
  waiting: "Returned to the queue",
  closed: "Closed",
  gone: "Transferred",
};

/** @param {Frame} f @param {string | undefined} me */
function noteText(f, me) {
  const p = f.payload;
  const who = (/** @type {string} */ id) => (id === me ? "you" : id);
  switch (f.type) {
    case "chat_created":
      return `Chat started by ${p.client_id}${
        p.channel?.kind === "telegram" ? ` on Telegram (${p.channel.name ?? p.channel.ref})` : ""
      }`;
    case "chat_queued":
      return `Queued (priority ${p.priority})`;
    case "chat_assigned":
      return p.operator_id === me ? "You accepted the chat" : `Assigned to ${p.operator_id}`;
    case "chat_transferred":
      return p.to_queue
        ? `Returned to the queue by ${who(p.by)}: ${p.reason}`
        : `Transferred to ${who(p.to_operator_id)} by ${who(p.by)}: ${p.reason}`;
    case "lawyer_assigned":
      return `Lawyer ${p.lawyer_id} assigned by ${who(p.by)}`;
    case "chat_closed":
      return `Closed by ${p.closed_by_role === "client" ? "the client" : who(p.closed_by)}${
        p.reason ? `: ${p.reason}` : ""
      }`;
    case "chat_rated":
      return `Client rated ${p.score}/5${p.comment ? ` · “${p.comment}”` : ""}`;
    case "chat_escalated":
      return `Handed to a human: ${p.reason}`;
    case "chat_title":
      return `Title: ${p.title}`;
    default:
      return null;
  }
}

export class ChatView {
  #store;
  #client;
  /** @type {import("../outbox.js").OutboxItem[]} */
  outbox = [];
  #typing = new TypingNotifier((isTyping, chatId) =>
    this.#client()?.notify("typing", { chat_id: chatId, is_typing: isTyping })
  );
  #text = /** @type {HTMLTextAreaElement} */ (byId("chat-text"));

  /** @param {Store} store @param {() => ChatClient | null} client */
  constructor(store, client) {
    this.#store = store;
    this.#client = client;
    byId("chat-composer").addEventListener("submit", (e) => this.#send(e));
    this.#text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) this.#send(e);
    });
    this.#text.addEventListener("input", () => {
      if (store.activeId) this.#typing.input(store.activeId);
    });
    this.#wireAttach();
    byId("transfer-btn").addEventListener("click", () => this.#transfer());
    byId("lawyer-btn").addEventListener("click", () => this.#lawyer());
    byId("close-btn").addEventListener("click", () => this.#close());
    byId("dismiss-btn").addEventListener("click", () => {
      if (store.activeId) store.dismiss(store.activeId);
    });
    document.addEventListener("visibilitychange", () => this.markRead());
  }

  get #chat() {
    const id = this.#store.activeId;
    return id ? this.#store.chats.get(id) ?? null : null;
  }

  render() {
    const c = this.#chat;
    show(byId("chat-placeholder"), !c);
    show(byId("chat-box"), !!c);
    if (!c) return;
    const active = c.status === "active";
    const badge = channelBadge(c);
    byId("chat-title").replaceChildren(clientName(c) || "Client", ...(badge ? [" ", badge] : []));
    const state = byId("chat-state");
    state.textContent = STATE_TEXT[c.status];
    state.className = `badge state-${c.status}`;
    byId("chat-sub").textContent = `${c.title ? `${c.title} · ` : ""}Chat ${c.id}${
      c.rating ? ` · rated ${"★".repeat(c.rating.score)}${"☆".repeat(5 - c.rating.score)}` : ""
    }`;
    for (const id of ["transfer-btn", "lawyer-btn", "close-btn"]) show(byId(id), active);
    show(byId("dismiss-btn"), !active);
    show(byId("chat-composer"), active);
    const list = byId("chat-messages");
    keepScrolledToBottom(list, () => {
      list.replaceChildren(...this.#items(c));
      show(byId("chat-typing"), active && c.peerTypingUntil > Date.now());
    });
    this.markRead();
  }

  /** @param {ChatState} c @returns {HTMLElement[]} */
  #items(c) {
    const me = this.#store.me?.user_id;
    const seqs = [...c.events.keys()].sort((a, b) => a - b);
    const lastMine = seqs.filter((q) => {
      const f = c.events.get(q);
      return f?.type === "message" && f.payload.sender_id === me;
    }).at(-1);
    const echoed = new Set();
    /** @type {HTMLElement[]} */
    const out = [];
    for (const [i, seq] of seqs.entries()) {
      const f = /** @type {Frame} */ (c.events.get(seq));
      const p = f.payload;
      if (f.type === "message") {
        if (p.client_msg_id) echoed.add(p.client_msg_id);
        const mine = p.sender_id === me;
        const meta = [fmtTime(p.timestamp)];
        if (!mine && p.sender_role !== "client") meta.unshift(p.sender_id);
        const seen = seq === lastMine && c.peerRead >= seq;
        if (seq === lastMine) meta.push(seen ? "Seen by client" : "Sent");
        const withMeta = seq === lastMine || endsRun(c.events, seqs, i, HIDDEN);
        out.push(h(
          "li",
          { class: `msg ${mine ? "mine" : "theirs"}`, dataset: { seq: String(seq) } },
          h(
            "div",
            { class: "bubble", text: p.message },
            attachmentList(p.attachments, this.#client()?.token),
          ),
          withMeta && h("div", { class: `meta${seen ? " seen" : ""}`, text: meta.join(" · ") }),
        ));
      } else if (f.type === "bot_response") {
        out.push(botItem(f, { staff: true }));
      } else {
        const text = noteText(f, me);
        if (text) {
          out.push(h("li", { class: "note", dataset: { seq: String(seq), type: f.type } }, text));
        }
      }
    }
    for (const item of this.outbox) {
      if (item.chat_id !== c.id || echoed.has(item.client_msg_id)) continue;
      const failed = item.status === "failed";
      out.push(h(
        "li",
        {
          class: `msg mine pending${failed ? " failed" : ""}`,
          dataset: { cmid: item.client_msg_id },
        },
        h("div", {
          class: "bubble",
          text: item.text || (item.attachments?.length ? `${item.attachments.length} file(s)` : ""),
        }),
        h("div", { class: "meta", text: failed ? `Not sent: ${item.error?.code}` : "Sending…" }),
      ));
    }
    return out;
  }

  /** Reports the newest client message as read while the chat is on screen. */
  markRead() {
    const c = this.#chat;
    const client = this.#client();
    if (!c || !client || document.visibilityState !== "visible" || c.status !== "active") return;
    const top = this.#store.lastIncomingSeq(c);
    if (top <= c.readByMe || client.state.status !== "open") return;
    c.readByMe = top; // optimistic; the stored `read` event confirms it
    client.request("read", { chat_id: c.id, seq: top }).catch(() => (c.readByMe = 0));
  }

  /** @param {Event} e */
  #send(e) {
    e.preventDefault();
    const c = this.#chat;
    const text = this.#text.value.trim();
    if (!c || !text) return;
    this.#client()?.sendMessage(text, c.id);
    this.#text.value = "";
    this.#typing.stop();
  }

  /** The attach button: upload the picked files, then send them with the reply typed so far. */
  #wireAttach() {
    const error = byId("chat-attach-error");
    wireAttachButton(
      /** @type {HTMLButtonElement} */ (byId("chat-attach-btn")),
      /** @type {HTMLInputElement} */ (byId("chat-attach-input")),
      () => {
        const c = this.#chat;
        const token = this.#client()?.token;
        return c && token ? { token, chatId: c.id } : null;
      },
      (ids, t) => {
        show(error, false);
        const text = this.#store.activeId === t.chatId ? this.#text.value.trim() : "";
        if (text) this.#text.value = "";
        this.#client()?.sendMessage(text, t.chatId, ids);
      },
      (message) => {
        error.textContent = message;
        show(error);
      },
    );
  }

  /** Sends a request; a refusal becomes an Error with the server's message. */
  async #ask(/** @type {string} */ type, /** @type {Record<string, unknown>} */ payload) {
    const client = this.#client();
    if (!client) throw new Error("Not connected");
    await client.request(type, payload);
  }

  #transfer() {
    const c = this.#chat;
    if (!c) return;
    openDialog({
      title: "Transfer chat",
      ok: "Transfer",
      fields: [
        { name: "target", label: "To operator (id)", placeholder: "e.g. op-2", maxlength: 128 },
        { name: "to_queue", label: "Back to the queue instead", type: "checkbox" },
        { name: "reason", label: "Reason", required: true, placeholder: "e.g. billing question" },
      ],
      onSubmit: async (v) => {
        if (!v.to_queue && !v.target) throw new Error("Name an operator or tick “queue”.");
        if (v.to_queue && v.target) throw new Error("Either an operator or the queue, not both.");
        await this.#ask("transfer_chat", {
          chat_id: c.id,
          reason: v.reason,
          ...(v.to_queue ? { to_queue: true } : { target_operator_id: v.target }),
        });
      },
    });
  }

  #lawyer() {
    const c = this.#chat;
    if (!c) return;
    openDialog({
      title: "Assign a lawyer",
      ok: "Assign",
      fields: [{ name: "lawyer", label: "Lawyer (id)", required: true, maxlength: 128 }],
      onSubmit: (v) => this.#ask("assign_lawyer", { chat_id: c.id, lawyer_id: v.lawyer }),
    });
  }

  #close() {
    const c = this.#chat;
    if (!c) return;
    openDialog({
      title: "Close this chat?",
      ok: "Close chat",
      danger: true,
      fields: [{ name: "reason", label: "Reason (optional)", placeholder: "e.g. solved" }],
      onSubmit: (v) =>
        this.#ask("close_chat", { chat_id: c.id, ...(v.reason ? { reason: v.reason } : {}) }),
    });
  }
}
