// @ts-check
/**
 * A chat's conversation as keyed rows for the console: messages, the bot's turns, routing events
 * as one-line notes, the outbox's unsent messages, and the staff side's internal notes and label
 * changes merged in by time. Internal notes are staff-only (they come from the chat's staff
 * stream, which clients never follow) and look unlike anything the client could have seen.
 */
import { endsRun, h } from "../dom.js";
import { fmtTime, lang, t } from "../i18n.js";
import { botItem } from "../bot_view.js";
import { attachmentList } from "../attachments.js";

/**
 * @typedef {import("./store.js").Store} Store
 * @typedef {import("./store.js").ChatState} ChatState
 * @typedef {import("../transports.js").Frame} Frame
 * @typedef {import("./reconcile.js").Row} Row
 */

const HIDDEN = new Set(["read"]);

/** `text` with `: reason` when there is one. */
const withReason = (/** @type {string} */ text, /** @type {string | undefined} */ reason) =>
  reason ? t("console.event.with_reason", { text, reason }) : text;

/** The one-line text of a routing event, or null for events not shown. */
export function eventText(/** @type {Frame} */ f, /** @type {Store} */ store) {
  const p = f.payload;
  const me = store.me?.user_id;
  const name = (/** @type {string} */ id) => store.nameOf(id);
  switch (f.type) {
    case "chat_created": {
      const client = p.client_name || p.channel?.name || p.client_id;
      if (p.kind === "lawyer") {
        return withReason(
          t("console.event.created_lawyer", { by: name(p.assigned_by ?? "") }),
          p.reason,
        );
      }
      if (p.offline) return t("console.event.created_offline", { client });
      return p.channel?.kind === "telegram"
        ? t("console.event.created_telegram", { client, channel: p.channel.name ?? p.channel.ref })
        : t("console.event.created", { client });
    }
    case "chat_queued":
      return t("console.event.queued", { priority: p.priority });
    case "chat_assigned":
      if (p.operator_id === me) return t("console.event.accepted_me");
      return p.role === "lawyer"
        ? t("console.event.assigned_lawyer", { name: name(p.operator_id) })
        : t("console.event.assigned", { name: name(p.operator_id) });
    case "chat_transferred":
      if (p.to_queue) {
        if (p.by === "system") return t("console.event.requeued_system", { reason: p.reason });
        return p.by === me
          ? withReason(t("console.event.requeued_me"), p.reason)
          : t("console.event.requeued", { by: name(p.by), reason: p.reason });
      }
      if (p.to_operator_id === me) {
        return t("console.event.transferred_to_me", { by: name(p.by), reason: p.reason });
      }
      return p.by === me
        ? t("console.event.transferred_me", { to: name(p.to_operator_id), reason: p.reason })
        : t("console.event.transferred", {
          to: name(p.to_operator_id),
          by: name(p.by),
          reason: p.reason,
        });
    case "lawyer_assigned":
      return withReason(
        p.by === me
          ? t("console.event.lawyer_me", { lawyer: name(p.lawyer_id) })
          : t("console.event.lawyer", { lawyer: name(p.lawyer_id), by: name(p.by) }),
        p.reason,
      );
    case "chat_closed": {
      const text = p.closed_by_role === "client"
        ? t("console.event.closed_client")
        : p.closed_by_role === "system"
        ? t("console.event.closed_system")
        : p.closed_by === me
        ? t("console.event.closed_me")
        : t("console.event.closed", { by: name(p.closed_by) });
      return withReason(text, p.reason);
    }
    case "chat_rated": {
      const text = t("console.event.rated", { score: p.score });
      return p.comment ? t("console.event.with_comment", { text, comment: p.comment }) : text;
    }
    case "chat_escalated":
      return t("console.event.escalated", { reason: p.reason });
    case "chat_title":
      return t("console.event.title", { title: p.title });
    default:
      return null;
  }
}

/** A note's text with each `@mention` set apart. */
function noteBody(/** @type {string} */ text, /** @type {string[]} */ mentions, me = "") {
  /** @type {(Node | string)[]} */
  const out = [];
  let at = 0;
  for (const m of text.matchAll(/(?<![\w@])@([\w][\w.:|+@-]*)/g)) {
    const id = m[1].replace(/[.:@-]+$/, "");
    if (!mentions.includes(id)) continue;
    out.push(text.slice(at, m.index));
    out.push(h("mark", { class: `mention${id === me ? " me" : ""}`, text: `@${id}` }));
    at = (m.index ?? 0) + id.length + 1;
  }
  out.push(text.slice(at));
  return out;
}

/**
 * The conversation's rows, in order.
 * @param {ChatState} c
 * @param {Store} store
 * @param {{ outbox: import("../outbox.js").OutboxItem[], token: string | undefined }} o
 * @returns {Row[]}
 */
export function timelineRows(c, store, o) {
  const me = store.me?.user_id;
  const L = lang();
  const seqs = [...c.events.keys()].sort((a, b) => a - b);
  const lastMine = seqs.filter((q) => {
    const f = c.events.get(q);
    return f?.type === "message" && f.payload.sender_id === me;
  }).at(-1);
  const echoed = new Set();
  /** @type {Array<Row & { at: number }>} */
  const rows = [];
  /** @type {Array<Row & { at: number }>} */
  const notes = [];
  for (const [i, seq] of seqs.entries()) {
    const f = /** @type {Frame} */ (c.events.get(seq));
    const p = f.payload;
    const at = Date.parse(p.timestamp) || 0;
    if (f.type === "message") {
      if (p.client_msg_id) echoed.add(p.client_msg_id);
      const mine = p.sender_id === me;
      const seen = seq === lastMine && c.peerRead >= seq;
      const withMeta = seq === lastMine || endsRun(c.events, seqs, i, HIDDEN);
      rows.push({
        key: `m${seq}`,
        sig: `${L}|${seen}|${withMeta}|${seq === lastMine}|${store.nameOf(p.sender_id)}`,
        at,
        build: () => {
          const meta = [fmtTime(p.timestamp)];
          if (!mine && p.sender_role !== "client") meta.unshift(store.nameOf(p.sender_id));
          if (seq === lastMine) meta.push(seen ? t("console.msg.seen") : t("console.msg.sent"));
          return h(
            "li",
            { class: `msg ${mine ? "mine" : "theirs"}`, dataset: { seq: String(seq) } },
            h("div", { class: "bubble", text: p.message }, attachmentList(p.attachments, o.token)),
            withMeta && h("div", { class: `meta${seen ? " seen" : ""}`, text: meta.join(" · ") }),
          );
        },
      });
    } else if (f.type === "bot_response") {
      rows.push({ key: `m${seq}`, sig: L, at, build: () => botItem(f, { staff: true }) });
    } else {
      const text = eventText(f, store);
      if (!text) continue;
      rows.push({
        key: `m${seq}`,
        sig: text,
        at,
        build: () => h("li", { class: "note", dataset: { seq: String(seq), type: f.type } }, text),
      });
    }
  }
  for (const [seq, f] of c.notes) {
    const p = f.payload;
    const at = Date.parse(p.timestamp) || 0;
    if (f.type === "labels") {
      const by = store.nameOf(p.by);
      const labels = p.labels.join(", ");
      const text = p.by === me
        ? (p.labels.length
          ? t("console.event.labels_me", { labels })
          : t("console.event.labels_cleared_me"))
        : p.labels.length
        ? t("console.event.labels", { by, labels })
        : t("console.event.labels_cleared", { by });
      notes.push({
        key: `n${seq}`,
        sig: text,
        at,
        build: () =>
          h("li", { class: "note staff-event", dataset: { noteSeq: String(seq) } }, text),
      });
      continue;
    }
    const author = p.author_id === me ? "" : store.nameOf(p.author_id);
    notes.push({
      key: `n${seq}`,
      sig: `${L}|${author}`,
      at,
      build: () =>
        h(
          "li",
          {
            class: `msg internal-note${p.author_id === me ? " mine" : " theirs"}`,
            dataset: { noteSeq: String(seq) },
          },
          h(
            "div",
            { class: "bubble" },
            h("span", { class: "note-tag", text: t("console.note.tag") }),
            h("span", { class: "note-text" }, ...noteBody(p.text, p.mentions ?? [], me)),
          ),
          h("div", {
            class: "meta",
            text: author ? `${author} · ${fmtTime(p.timestamp)}` : fmtTime(p.timestamp),
          }),
        ),
    });
  }
  // Notes by time among the chat's events (each stream keeps its own order; ties: chat first).
  notes.sort((a, b) => Number(a.key.slice(1)) - Number(b.key.slice(1)));
  /** @type {Row[]} */
  const out = [];
  let n = 0;
  for (const r of rows) {
    while (n < notes.length && notes[n].at < r.at) out.push(notes[n++]);
    out.push(r);
  }
  out.push(...notes.slice(n));
  for (const item of o.outbox) {
    if (item.chat_id !== c.id || echoed.has(item.client_msg_id)) continue;
    const failed = item.status === "failed";
    const text = item.text ||
      (item.attachments?.length ? t("console.msg.files", { count: item.attachments.length }) : "");
    const status = failed
      ? t("console.msg.not_sent", { reason: item.error?.code ?? "" })
      : t("console.msg.sending");
    out.push({
      key: `o${item.client_msg_id}`,
      sig: `${L}|${status}`,
      build: () =>
        h(
          "li",
          {
            class: `msg mine pending${failed ? " failed" : ""}`,
            dataset: { cmid: item.client_msg_id },
          },
          h("div", { class: "bubble", text }),
          h("div", { class: "meta", text: status }),
        ),
    });
  }
  return out;
}
