// @ts-check
/**
 * The reply box under a conversation, in two modes: a reply to the client, or an internal note
 * (`note` frame: staff-only, on the chat's staff stream; it never reaches the client). In note
 * mode `@` offers colleagues to mention (↑/↓, Enter or Tab to insert, Esc to close); the named
 * are alerted by the server. Drafts are kept per chat and mode. Typing is reported for replies
 * only; files go with replies only.
 */
import { byId, h, show } from "../dom.js";
import { t } from "../i18n.js";
import { TypingNotifier } from "../protocol.js";
import { wireAttachButton } from "../attachments.js";
import { errorText } from "./api.js";
import { known, label, roster } from "./roster.js";

/**
 * @typedef {import("./store.js").Store} Store
 * @typedef {import("../chat_client.js").ChatClient} ChatClient
 */

export class Composer {
  #store;
  #client;
  /** @type {"reply" | "note"} */
  mode = "reply";
  /** Drafts per chat and mode. @type {Map<string, string>} */
  #drafts = new Map();
  /** The chat the box holds text for. @type {string | null} */
  #for = null;
  #text = /** @type {HTMLTextAreaElement} */ (byId("chat-text"));
  #error = byId("chat-attach-error");
  #mentions = byId("mention-list");
  /** @type {Array<{ id: string, name: string }>} */
  #options = [];
  #active = 0;
  #typing = new TypingNotifier((isTyping, chatId) =>
    this.#client()?.notify("typing", { chat_id: chatId, is_typing: isTyping })
  );

  /** @param {Store} store @param {() => ChatClient | null} client */
  constructor(store, client) {
    this.#store = store;
    this.#client = client;
    byId("chat-composer").addEventListener("submit", (e) => this.#send(e));
    this.#text.addEventListener("keydown", (e) => this.#key(e));
    this.#text.addEventListener("input", () => {
      if (this.mode === "reply" && store.activeId) this.#typing.input(store.activeId);
      this.#suggest();
    });
    this.#text.addEventListener("blur", () => setTimeout(() => this.#closeMentions(), 150));
    byId("mode-reply").addEventListener("click", () => this.setMode("reply"));
    byId("mode-note").addEventListener("click", () => this.setMode("note"));
    this.#wireAttach();
  }

  /** Switches between a reply and an internal note, keeping each draft. */
  setMode(/** @type {"reply" | "note"} */ mode, focus = true) {
    if (mode !== this.mode) {
      this.#saveDraft();
      this.mode = mode;
      this.#text.value = this.#drafts.get(`${this.#for}|${mode}`) ?? "";
      this.#typing.stop();
    }
    this.#closeMentions();
    this.localize();
    if (focus) this.#text.focus();
  }

  /** Texts that depend on the mode (also after a language switch). */
  localize() {
    const note = this.mode === "note";
    byId("composer-wrap").classList.toggle("note-mode", note);
    byId("mode-reply").setAttribute("aria-pressed", String(!note));
    byId("mode-note").setAttribute("aria-pressed", String(note));
    show(byId("mode-hint"), note);
    this.#text.placeholder = note
      ? t("console.composer.note_placeholder")
      : t("console.composer.placeholder");
    this.#text.setAttribute(
      "aria-label",
      note ? t("console.composer.note") : t("console.composer.reply"),
    );
    byId("send-btn").textContent = note
      ? t("console.composer.add_note")
      : t("console.composer.send");
    /** @type {HTMLButtonElement} */ (byId("chat-attach-btn")).disabled = note;
  }

  /** The open chat changed: keep the old draft, show the new one. */
  follow(/** @type {string | null} */ chatId) {
    if (chatId === this.#for) return;
    this.#saveDraft();
    this.#for = chatId;
    this.#text.value = this.#drafts.get(`${chatId}|${this.mode}`) ?? "";
    show(this.#error, false);
    this.#closeMentions();
  }

  focus() {
    this.#text.focus();
  }

  #saveDraft() {
    if (this.#for) this.#drafts.set(`${this.#for}|${this.mode}`, this.#text.value);
  }

  /** @param {Event} e */
  async #send(e) {
    e.preventDefault();
    const chatId = this.#store.activeId;
    const text = this.#text.value.trim();
    const client = this.#client();
    if (!chatId || !text || !client) return;
    show(this.#error, false);
    if (this.mode === "reply") {
      client.sendMessage(text, chatId);
      this.#text.value = "";
      this.#typing.stop();
      return;
    }
    try {
      await client.request("note", { chat_id: chatId, text });
      if (this.#store.activeId === chatId && this.mode === "note") this.#text.value = "";
      this.#drafts.delete(`${chatId}|note`);
    } catch (err) {
      this.#error.textContent = t("console.note.failed", { reason: errorText(err) });
      show(this.#error);
    }
  }

  /** @param {KeyboardEvent} e */
  #key(e) {
    if (!this.#mentions.hidden && this.#options.length) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        const n = this.#options.length;
        this.#active = (this.#active + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
        return this.#renderMentions();
      }
      if (e.key === "Enter" || e.key === "Tab") {
        e.preventDefault();
        return this.#insert(this.#options[this.#active].id);
      }
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        return this.#closeMentions();
      }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) this.#send(e);
  }

  /** The `@word` being typed before the cursor, if any. */
  #mentionAt() {
    const before = this.#text.value.slice(0, this.#text.selectionStart);
    const m = /(?:^|[^\w@])@([\w.:|+@-]*)$/.exec(before);
    return m ? { query: m[1], start: before.length - m[1].length - 1 } : null;
  }

  #suggest() {
    const at = this.mode === "note" ? this.#mentionAt() : null;
    if (!at) return this.#closeMentions();
    const chat = this.#store.activeId ? this.#store.chats.get(this.#store.activeId) : null;
    const me = this.#store.me?.user_id;
    const q = at.query.toLowerCase();
    const pick = () => {
      this.#options = known()
        .filter((e) => e.operator_id !== me && !(e.role === "lawyer" && chat?.kind === "support"))
        .filter((e) =>
          e.operator_id.toLowerCase().startsWith(q) || label(e).toLowerCase().includes(q)
        )
        .slice(0, 8)
        .map((e) => ({ id: e.operator_id, name: label(e) }));
      this.#active = 0;
      this.#renderMentions();
    };
    pick();
    roster().then(() => this.#mentionAt() && pick()).catch(() => {});
  }

  #renderMentions() {
    const list = this.#mentions;
    list.replaceChildren(...this.#options.map((o, i) =>
      h(
        "li",
        {
          id: `mention-opt-${i}`,
          role: "option",
          class: `mention-option${i === this.#active ? " active" : ""}`,
          "aria-selected": String(i === this.#active),
          on: {
            mousedown: (/** @type {Event} */ e) => e.preventDefault(),
            click: () => this.#insert(o.id),
          },
        },
        h("strong", { text: o.name }),
        o.name !== o.id && h("span", { class: "muted small", text: ` @${o.id}` }),
      )
    ));
    show(list, this.#options.length > 0);
    if (this.#options.length) {
      this.#text.setAttribute("aria-activedescendant", `mention-opt-${this.#active}`);
      this.#text.setAttribute("aria-controls", "mention-list");
    } else this.#text.removeAttribute("aria-activedescendant");
  }

  #closeMentions() {
    this.#options = [];
    show(this.#mentions, false);
    this.#text.removeAttribute("aria-activedescendant");
  }

  #insert(/** @type {string} */ id) {
    const at = this.#mentionAt();
    if (!at) return this.#closeMentions();
    const end = this.#text.selectionStart;
    this.#text.setRangeText(`@${id} `, at.start, end, "end");
    this.#closeMentions();
    this.#text.focus();
  }

  /** The attach button: upload the picked files, then send them with the reply typed so far. */
  #wireAttach() {
    wireAttachButton(
      /** @type {HTMLButtonElement} */ (byId("chat-attach-btn")),
      /** @type {HTMLInputElement} */ (byId("chat-attach-input")),
      () => {
        const id = this.#store.activeId;
        const token = this.#client()?.token;
        return id && token && this.mode === "reply" ? { token, chatId: id } : null;
      },
      (ids, target) => {
        show(this.#error, false);
        const text = this.#store.activeId === target.chatId ? this.#text.value.trim() : "";
        if (text) this.#text.value = "";
        this.#client()?.sendMessage(text, target.chatId, ids);
      },
      (message) => {
        this.#error.textContent = message;
        show(this.#error);
      },
    );
  }
}
