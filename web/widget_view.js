// @ts-check
/**
 * Rendering of the client widget: a conversation's list (kept row by row, so an image already
 * shown is not loaded again and a screen reader hears only what is new), its notes, the queue
 * banner, agents' avatars, and the rating stars.
 */
import { endsRun, h } from "./dom.js";
import { botItem, openBotSeq } from "./bot_view.js";
import { errorText } from "./errors.js";
import { fmtDuration, fmtTime, lang, t } from "./i18n.js";

const HIDDEN = new Set(["read", "chat_queued"]);

/**
 * @typedef {import("./transports.js").Frame} Frame
 * @typedef {import("./outbox.js").OutboxItem} OutboxItem
 * @typedef {import("./widget_conv.js").Conversation} Conversation
 * @typedef {{ key: string, sig: string, build: () => HTMLElement }} Row
 * @typedef {{ onRetry: (id: string) => void,
 *   files: (list: any[] | undefined) => HTMLElement | null,
 *   onQuickReply?: (text: string) => void, onOpenLawyer?: () => void }} Actions
 */

/** Up to two initials of a name ("Anna Smirnova" → "AS"), or "" for none. */
export function initials(/** @type {string | null | undefined} */ name) {
  const words = (name ?? "").trim().split(/\s+/).filter((w) => /\p{L}|\p{N}/u.test(w));
  return words.slice(0, 2).map((w) => [...w][0].toLocaleUpperCase()).join("");
}

/** A 24×24 icon from one path, drawn with the DOM (no markup parsing). */
function icon(/** @type {string} */ d) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", d);
  svg.append(path);
  return /** @type {any} */ (svg);
}

const PERSON = "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm-7 8a7 7 0 0 1 14 0z";
const STAR = "M12 2.8l2.8 5.9 6.4.8-4.7 4.4 1.2 6.4L12 17.1l-5.7 3.2 1.2-6.4-4.7-4.4 6.4-.8z";

/** A round avatar: the initials of `name`, or a person's outline when there is no name. */
export function avatar(/** @type {string | null | undefined} */ name, cls = "avatar") {
  const text = initials(name);
  if (text) return h("span", { class: cls, "aria-hidden": "true", text });
  return h("span", { class: `${cls} anon`, "aria-hidden": "true" }, icon(PERSON));
}

/** Who an agent is, as the client reads it: their name, else their role. */
export function agentName(/** @type {{ name: string | null, role: string } | null} */ a) {
  if (a?.name) return a.name;
  return a?.role === "lawyer" ? t("widget.agent.lawyer") : t("widget.agent.operator");
}

/** A line in the conversation for a non-message event, or null for none. */
export function noteText(/** @type {Frame} */ f, /** @type {Conversation} */ c) {
  const p = f.payload;
  const name = (/** @type {string | undefined} */ id, /** @type {string | undefined} */ given) =>
    given ?? (id ? c.names.get(id) : undefined);
  switch (f.type) {
    case "chat_created":
      if (p.kind === "lawyer") {
        return p.reason
          ? t("widget.note.lawyer_chat_reason", { reason: p.reason })
          : t("widget.note.lawyer_chat");
      }
      return p.offline ? t("widget.note.offline_created") : t("widget.note.created");
    case "chat_assigned": {
      const who = name(p.operator_id, p.operator_name);
      if (p.role === "lawyer") {
        return who
          ? t("widget.note.lawyer_joined_named", { name: who })
          : t("widget.note.lawyer_joined");
      }
      return who
        ? t("widget.note.agent_joined_named", { name: who })
        : t("widget.note.agent_joined");
    }
    case "chat_transferred": {
      if (p.to_queue) return t("widget.note.requeued");
      const who = name(p.to_operator_id, p.operator_name);
      return who ? t("widget.note.transferred_named", { name: who }) : t("widget.note.transferred");
    }
    case "lawyer_assigned": {
      const who = name(p.lawyer_id, p.lawyer_name);
      const text = who ? t("widget.note.lawyer_named", { name: who }) : t("widget.note.lawyer");
      return p.reason ? `${text} ${t("widget.note.reason", { reason: p.reason })}` : text;
    }
    case "chat_closed":
      if (p.closed_by_role === "client") return t("widget.note.closed_by_you");
      return p.reason
        ? t("widget.note.closed_reason", { reason: p.reason })
        : t("widget.note.closed");
    case "chat_rated":
      return t("widget.note.rated", { score: p.score });
    case "chat_escalated":
      return t("widget.note.escalated");
    default:
      return null;
  }
}

/** The rows of a conversation: stored events in `seq` order, then messages still in the outbox. */
function rows(/** @type {Conversation} */ c, /** @type {Actions} */ act) {
  const seqs = [...c.events.keys()].sort((a, b) => a - b);
  const lastMine = seqs.filter((q) => {
    const f = /** @type {Frame} */ (c.events.get(q));
    return f.type === "message" && f.payload.sender_role === "client";
  }).at(-1);
  // Quick replies only under the bot's newest answer, while the bot still has the chat.
  const withBot = c.phase === "bot" || c.phase === "queued";
  const openBot = withBot && act.onQuickReply ? openBotSeq(c.events) : 0;
  const echoed = new Set();
  /** @type {Row[]} */
  const out = [];
  const at = lang();
  for (const [i, seq] of seqs.entries()) {
    const f = /** @type {Frame} */ (c.events.get(seq));
    const p = f.payload;
    if (f.type === "message") {
      if (p.client_msg_id) echoed.add(p.client_msg_id);
      const mine = p.sender_role === "client";
      const last = seq === lastMine;
      const seen = last && c.peerRead >= seq;
      const withMeta = last || endsRun(c.events, seqs, i, HIDDEN);
      const who = mine ? null : c.names.get(p.sender_id) ?? null;
      const meta = [fmtTime(p.timestamp)];
      if (last) meta.push(seen ? t("widget.msg.seen") : t("widget.msg.sent"));
      if (!mine && withMeta) meta.unshift(who ?? agentName({ name: null, role: p.sender_role }));
      out.push({
        key: `s${seq}`,
        sig: JSON.stringify([at, withMeta, meta, who]),
        build: () =>
          h(
            "li",
            { class: `msg ${mine ? "mine" : "theirs"}`, dataset: { seq: String(seq) } },
            h("div", { class: "bubble", text: p.message }, act.files(p.attachments)),
            withMeta && h(
              "div",
              { class: `meta${seen ? " seen" : ""}` },
              mine ? null : avatar(who, "avatar-sm"),
              h("span", { text: meta.join(" · ") }),
            ),
          ),
      });
    } else if (f.type === "bot_response") {
      const open = seq === openBot;
      out.push({
        key: `s${seq}`,
        sig: JSON.stringify([at, open]),
        build: () => botItem(f, { onQuickReply: open ? act.onQuickReply : null }),
      });
    } else {
      const text = noteText(f, c);
      if (!text) continue;
      const toLawyer = f.type === "lawyer_assigned" && act.onOpenLawyer;
      out.push({
        key: `s${seq}`,
        sig: JSON.stringify([at, text, Boolean(toLawyer)]),
        build: () =>
          h(
            "li",
            { class: "note", dataset: { seq: String(seq), type: f.type } },
            h("span", { text: `${text} · ${fmtTime(p.timestamp)}` }),
            toLawyer && h("button", {
              type: "button",
              class: "link open-lawyer",
              text: t("widget.note.open_lawyer"),
              on: { click: act.onOpenLawyer },
            }),
          ),
      });
    }
  }
  for (const item of c.outbox) {
    if (echoed.has(item.client_msg_id)) continue;
    const failed = item.status === "failed";
    const reason = failed ? errorText({ code: item.error?.code }) : "";
    out.push({
      key: `o${item.client_msg_id}`,
      sig: JSON.stringify([at, failed, reason]),
      build: () =>
        h(
          "li",
          {
            class: `msg mine pending${failed ? " failed" : ""}`,
            dataset: { cmid: item.client_msg_id },
          },
          h("div", { class: "bubble", text: item.text || pendingFiles(item) }),
          h(
            "div",
            { class: "meta" },
            failed ? t("widget.msg.not_sent", { reason }) : t("widget.msg.sending"),
            failed && h("button", {
              type: "button",
              class: "retry",
              text: t("widget.msg.retry"),
              on: { click: () => act.onRetry(item.client_msg_id) },
            }),
          ),
        ),
    });
  }
  return out;
}

/** What each row was built from: a row is rebuilt only when this changes. */
/** @type {WeakMap<Element, string>} */
const built = new WeakMap();

/**
 * Brings `list` to `want` with as few DOM changes as it takes: rows kept when unchanged, new
 * ones inserted in place, stale ones removed.
 * @param {HTMLElement} list @param {Row[]} want
 */
export function reconcile(list, want) {
  /** @type {Map<string, Element>} */
  const have = new Map();
  for (const el of list.children) have.set(/** @type {HTMLElement} */ (el).dataset.key ?? "", el);
  const nodes = want.map((r) => {
    const old = have.get(r.key);
    if (old && built.get(old) === r.sig) return old;
    const el = r.build();
    el.dataset.key = r.key;
    built.set(el, r.sig);
    return el;
  });
  const keep = new Set(nodes);
  for (const el of [...list.children]) if (!keep.has(el)) el.remove();
  nodes.forEach((n, i) => {
    const here = list.children[i];
    if (here !== n) list.insertBefore(n, here ?? null);
  });
}

/** Draws a conversation into its list. */
export function renderMessages(
  /** @type {HTMLElement} */ list,
  /** @type {Conversation} */ c,
  /** @type {Actions} */ act,
) {
  reconcile(list, rows(c, act));
}

/** What a pending message without text shows: its files are on their way. */
export function pendingFiles(/** @type {OutboxItem} */ item) {
  const n = item.attachments?.length ?? 0;
  return n ? t("widget.msg.sending_files", { count: n }) : "";
}

/**
 * The waiting client's place in the queue and the estimated wait; for a message left while
 * nobody was online, when to expect the answer.
 * @param {Conversation} c @param {{ email?: string, hours?: number }} [offline]
 */
export function queueText(c, offline = {}) {
  if (c.offline) {
    const count = offline.hours ?? 24;
    return offline.email
      ? t("widget.queue.offline_email", { count, email: offline.email })
      : t("widget.queue.offline", { count });
  }
  if (c.position === null) return t("widget.queue.waiting");
  const place = c.position === 1
    ? t("widget.queue.next")
    : t("widget.queue.position", { position: c.position });
  const wait = c.wait === null
    ? t("widget.queue.estimating")
    : c.wait < 30
    ? t("widget.queue.shortly")
    : t("widget.queue.wait", { time: fmtDuration(c.wait) });
  return `${place} · ${wait}`;
}

/**
 * Builds the five rating stars (a radio group: arrows move, one tab stop); `onPick(score)` when
 * one is chosen. Returns a reset.
 * @param {HTMLElement} box @param {(score: number) => void} onPick
 */
export function buildStars(box, onPick) {
  /** @type {HTMLElement[]} */
  let stars = [];
  const pick = (/** @type {number} */ n, focus = false) => {
    stars.forEach((s, i) => {
      s.classList.toggle("on", i < n);
      s.setAttribute("aria-checked", String(i === n - 1));
      s.tabIndex = i === Math.max(0, n - 1) ? 0 : -1;
    });
    if (focus) stars[n - 1]?.focus();
    if (n > 0) onPick(n);
  };
  const draw = () => {
    stars = [1, 2, 3, 4, 5].map((n) =>
      h("button", {
        type: "button",
        class: "star",
        role: "radio",
        "aria-checked": "false",
        "aria-label": t("widget.rate.star", { count: n }),
        dataset: { score: String(n) },
        on: {
          click: () => pick(n),
          keydown: (/** @type {KeyboardEvent} */ e) => {
            const step = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1 }[e.key];
            if (!step) return;
            e.preventDefault();
            pick(Math.min(5, Math.max(1, n + step)), true);
          },
        },
      }, icon(STAR))
    );
    box.replaceChildren(...stars);
    pick(0);
  };
  draw();
  return draw;
}
