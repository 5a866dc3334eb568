// @ts-check
/**
 * The customer context beside the conversation (`GET /chats/{id}/client`): name, e-mail, the
 * page they wrote from, device and browser, language and local time, what the site told about
 * them (attributes), past chats; the chat's labels (add, remove); for a lawyer's chat, who
 * assigned it, why, and the support conversation it came from, read-only.
 *
 * Attributes the panel reads by name (others are listed as they are): `page_url` (or `url`,
 * `page`), `page_title` (`title`), `user_agent` (`ua`), `language` (`lang`, `locale`),
 * `timezone` (`tz`), `referrer`.
 */
import { byId, h, show } from "../dom.js";
import { fmtDate, fmtDateTime, fmtTime, lang, t } from "../i18n.js";
import { api, errorText, fullHistory } from "./api.js";
import { labelEditor } from "./labels.js";
import { clientName, visitorName } from "./channel.js";

/**
 * @typedef {import("./store.js").Store} Store
 * @typedef {import("./store.js").ChatState} ChatState
 * @typedef {{ client_id: string, name: string | null, email: string | null, verified: boolean,
 *   attributes: Record<string, string>, chats: Array<{ chat_id: string, kind: string,
 *   linked_chat_id: string | null, created_at: string | null }> }} Profile
 */

const KNOWN = {
  page: ["page_url", "url", "page"],
  title: ["page_title", "title"],
  ua: ["user_agent", "ua"],
  lang: ["language", "lang", "locale"],
  tz: ["timezone", "tz", "time_zone"],
  referrer: ["referrer", "referer"],
};

/** @param {Record<string, string>} a @param {string[]} names */
const pick = (a, names) => names.map((n) => a[n]).find((v) => v) ?? "";

/** "Chrome 126 · Windows" from a user agent (the common browsers and systems). */
export function deviceOf(/** @type {string} */ ua) {
  if (!ua) return "";
  const browser = [
    [/YaBrowser\/(\d+)/, "Yandex Browser"],
    [/Edg\/(\d+)/, "Edge"],
    [/OPR\/(\d+)/, "Opera"],
    [/Firefox\/(\d+)/, "Firefox"],
    [/Chrome\/(\d+)/, "Chrome"],
    [/Version\/(\d+).*Safari/, "Safari"],
  ].map(([re, name]) => {
    const m = /** @type {RegExp} */ (re).exec(ua);
    return m ? `${name} ${m[1]}` : "";
  }).find(Boolean) ?? "";
  const os = /iPhone|iPad/.test(ua)
    ? "iOS"
    : /Android/.test(ua)
    ? "Android"
    : /Windows/.test(ua)
    ? "Windows"
    : /Mac OS X/.test(ua)
    ? "macOS"
    : /Linux/.test(ua)
    ? "Linux"
    : "";
  const mobile = /Mobi|iPhone|Android/.test(ua);
  return [browser, os, mobile ? t("console.context.mobile") : ""].filter(Boolean).join(" · ") ||
    ua.slice(0, 80);
}

/** The local time in a time zone, or "". */
function localTime(/** @type {string} */ tz) {
  try {
    return new Intl.DateTimeFormat(lang(), { timeZone: tz, hour: "2-digit", minute: "2-digit" })
      .format(new Date());
  } catch {
    return "";
  }
}

export class ContextPanel {
  #store;
  /** @type {Map<string, Profile | "loading" | { error: string }>} */
  #profiles = new Map();
  /** @type {(chatId: string) => void} */
  onOpen = () => {};
  /** Linked support chats asked for (loaded into the store, read-only). */
  #asked = new Set();
  /** @type {(chatId: string, labels: string[]) => Promise<void>} */
  onLabels = async () => {};
  #sig = "";

  /** @param {Store} store */
  constructor(store) {
    this.#store = store;
  }

  /** Forgets a chat's profile (it is read again when shown). */
  refresh(/** @type {string} */ chatId) {
    this.#profiles.delete(chatId);
  }

  #profile(/** @type {string} */ chatId) {
    const hit = this.#profiles.get(chatId);
    if (hit) return hit;
    this.#profiles.set(chatId, "loading");
    api(`chats/${encodeURIComponent(chatId)}/client`)
      .then((p) => this.#profiles.set(chatId, p))
      .catch((err) => this.#profiles.set(chatId, { error: errorText(err) }))
      .finally(() => this.#store.changed());
    return "loading";
  }

  render() {
    const root = byId("context");
    const id = this.#store.activeId;
    const c = id ? this.#store.chats.get(id) : null;
    show(root, !!c);
    if (!c) return;
    const p = this.#profile(c.id);
    const write = c.mine && !c.readonly && c.status === "active";
    const linked = c.linked ? this.#store.chats.get(c.linked.chatId) : null;
    const sig = JSON.stringify([
      lang(),
      c.id,
      clientName(c), // the name when the profile has none (the chat's first event may come later)
      p,
      c.labels,
      write,
      c.kind,
      c.linked,
      this.#lawyers(c),
      this.#store.names.size,
      linked?.events.size,
    ]);
    if (sig === this.#sig) return;
    this.#sig = sig;
    const focused = root.contains(document.activeElement) ? document.activeElement?.id : "";
    root.replaceChildren(
      ...[
        h("h2", { class: "visually-hidden", text: t("console.context.label") }),
        c.kind === "lawyer" ? this.#lawyerSection(c) : null,
        this.#customer(c, p),
        labelEditor(c.labels, write, (labels) => this.onLabels(c.id, labels)),
        typeof p === "object" && "chats" in p ? this.#pastChats(c, p) : null,
      ].filter((x) => x !== null),
    );
    if (focused) document.getElementById(focused)?.focus();
  }

  /** Lawyers assigned from this support chat (its `lawyer_assigned` events). */
  #lawyers(/** @type {ChatState} */ c) {
    return [...c.events.values()].filter((f) => f.type === "lawyer_assigned")
      .map((f) => f.payload);
  }

  /** @param {ChatState} c @param {Profile | "loading" | { error: string }} p */
  #customer(c, p) {
    const box = h("section", { class: "ctx-section", "aria-labelledby": "ctx-customer" });
    box.append(h("h3", { id: "ctx-customer", text: t("console.context.customer") }));
    if (p === "loading") {
      box.append(h("p", { class: "muted small", text: t("console.context.loading") }));
      return box;
    }
    if ("error" in p) {
      box.append(h("p", { class: "error small", text: p.error }));
      return box;
    }
    const a = p.attributes ?? {};
    const page = pick(a, KNOWN.page);
    const title = pick(a, KNOWN.title);
    const tz = pick(a, KNOWN.tz);
    /** @type {Array<[string, Node | string]>} */
    const rows = [];
    if (p.email) {
      rows.push([t("console.context.email"), h("a", { href: `mailto:${p.email}`, text: p.email })]);
    }
    if (page) {
      rows.push([
        t("console.context.page"),
        h("a", {
          href: /^https?:\/\//.test(page) ? page : undefined,
          target: "_blank",
          rel: "noopener noreferrer",
          class: "page-link",
          text: title || page,
          title: page,
        }),
      ]);
    }
    const device = deviceOf(pick(a, KNOWN.ua));
    if (device) rows.push([t("console.context.device"), device]);
    const language = pick(a, KNOWN.lang);
    if (language) rows.push([t("console.context.language"), language]);
    if (tz) {
      const now = localTime(tz);
      rows.push([t("console.context.local_time"), now ? `${now} (${tz})` : tz]);
    }
    const referrer = pick(a, KNOWN.referrer);
    if (referrer) rows.push([t("console.context.referrer"), referrer]);
    const used = new Set(Object.values(KNOWN).flat());
    for (const [k, v] of Object.entries(a)) if (!used.has(k)) rows.push([k, v]);
    rows.push([t("console.context.client_id"), h("code", { text: p.client_id })]);
    box.append(
      h(
        "p",
        { class: "ctx-name" },
        h("strong", { text: p.name ? visitorName(p.client_id, p.name) : clientName(c) }),
        p.verified && h("span", {
          class: "badge verified",
          title: t("console.context.verified_hint"),
          text: t("console.context.verified"),
        }),
      ),
      h(
        "dl",
        { class: "ctx-facts" },
        ...rows.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]),
      ),
    );
    if (!p.email && !page && !device && Object.keys(a).length === 0) {
      box.append(h("p", { class: "muted small", text: t("console.context.nothing") }));
    }
    return box;
  }

  /** @param {ChatState} c @param {Profile} p */
  #pastChats(c, p) {
    const others = p.chats.filter((x) => x.chat_id !== c.id)
      .sort((a, b) => Date.parse(b.created_at ?? "") - Date.parse(a.created_at ?? ""));
    return h(
      "section",
      { class: "ctx-section", "aria-labelledby": "ctx-past" },
      h("h3", { id: "ctx-past", text: t("console.context.past", { count: others.length }) }),
      others.length === 0
        ? h("p", { class: "muted small", text: t("console.context.no_past") })
        : h(
          "ul",
          { class: "ctx-list" },
          ...others.slice(0, 20).map((x) =>
            h(
              "li",
              {},
              h("button", {
                type: "button",
                class: "link-btn",
                dataset: { chatId: x.chat_id },
                text: `${x.created_at ? fmtDate(x.created_at) : "—"} · ${
                  x.kind === "lawyer"
                    ? t("console.chat.kind_lawyer")
                    : t("console.chat.kind_support")
                }`,
                on: { click: () => this.onOpen(x.chat_id) },
              }),
            )
          ),
        ),
    );
  }

  /** A lawyer's chat: who assigned it, why, and the support conversation. @param {ChatState} c */
  #lawyerSection(c) {
    const l = c.linked;
    const rows = [];
    if (l?.by) {
      rows.push(
        h("dt", { text: t("console.lawyer_ctx.by") }),
        h("dd", { text: this.#store.nameOf(l.by) }),
      );
    }
    rows.push(
      h("dt", { text: t("console.lawyer_ctx.reason") }),
      h("dd", { text: l?.reason || t("console.lawyer_ctx.no_reason") }),
    );
    const created = [...c.events.values()].find((f) => f.type === "chat_created");
    if (created) {
      rows.push(
        h("dt", { text: t("console.lawyer_ctx.at") }),
        h("dd", { text: fmtDateTime(created.payload.timestamp) }),
      );
    }
    return h(
      "section",
      { class: "ctx-section lawyer-ctx", "aria-labelledby": "ctx-lawyer" },
      h("h3", { id: "ctx-lawyer", text: t("console.lawyer_ctx.title") }),
      h("dl", { class: "ctx-facts" }, ...rows),
      l?.chatId
        ? h("button", {
          type: "button",
          class: "small",
          id: "open-linked-btn",
          text: t("console.lawyer_ctx.open_support"),
          on: { click: () => this.onOpen(l.chatId) },
        })
        : h("p", { class: "muted small", text: t("console.lawyer_ctx.no_link") }),
      l?.chatId ? this.#linkedLog(l.chatId) : null,
    );
  }

  /** The support conversation a lawyer's chat came from, read-only and compact. */
  #linkedLog(/** @type {string} */ chatId) {
    const linked = this.#store.chats.get(chatId);
    if (!this.#asked.has(chatId) && !linked?.events.size) {
      this.#asked.add(chatId);
      fullHistory(chatId).then((frames) => this.#store.load(chatId, frames))
        .catch(() => this.#store.changed());
    }
    const frames = [...(linked?.events.values() ?? [])].filter((f) => f.type === "message")
      .sort((a, b) => a.payload.seq - b.payload.seq);
    const who = (/** @type {any} */ p) =>
      p.sender_role === "client"
        ? visitorName(p.sender_id, linked?.clientName)
        : this.#store.nameOf(p.sender_id);
    return h(
      "div",
      {
        class: "linked-log",
        id: "linked-log",
        role: "log",
        tabindex: "0",
        "aria-label": t("console.lawyer_ctx.support_log"),
      },
      frames.length === 0
        ? h("p", { class: "muted small", text: t("console.context.loading") })
        : h(
          "ol",
          { class: "linked-list" },
          ...frames.map((f) =>
            h(
              "li",
              { class: `linked-msg ${f.payload.sender_role}` },
              h("span", {
                class: "linked-who",
                text: `${who(f.payload)} · ${fmtTime(f.payload.timestamp)}`,
              }),
              h("span", { class: "linked-text", text: f.payload.message }),
            )
          ),
        ),
    );
  }
}
