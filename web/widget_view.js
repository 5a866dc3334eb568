// @ts-check
/** Rendering of the client widget: the message list, the queue banner, the rating stars. */
import { endsRun, fmtDuration, fmtTime, h } from "./dom.js";
import { botItem, openBotSeq } from "./bot_view.js";

const HIDDEN = new Set(["read", "chat_queued"]);

/**
 * @typedef {import("./transports.js").Frame} Frame
 * @typedef {import("./outbox.js").OutboxItem} OutboxItem
 * @typedef {{ events: Map<number, Frame>, outbox: OutboxItem[], peerRead: number,
 *   phase: string, position: number | null, wait: number | null }} ViewState
 */

/** A line in the conversation for a non-message session event, or null for none. */
function noteText(/** @type {Frame} */ f) {
  const p = f.payload;
  switch (f.type) {
    case "chat_created":
      return "Chat started";
    case "chat_assigned":
      return p.role === "lawyer" ? "Your lawyer joined the chat" : "An agent joined the chat";
    case "chat_transferred":
      return p.to_queue
        ? "You were moved back to the queue"
        : "Your chat was transferred to another agent";
    case "lawyer_assigned":
      return "A lawyer was assigned to you";
    case "chat_closed":
      return p.closed_by_role === "client"
        ? "You ended the chat"
        : `The chat was closed${p.reason ? `: ${p.reason}` : ""}`;
    case "chat_rated":
      return `You rated this chat ${p.score}/5`;
    case "chat_escalated":
      return "Connecting you to an agent…";
    default:
      return null;
  }
}

/**
 * Rebuilds the conversation: stored events in `seq` order, then messages still in the outbox.
 * @param {HTMLElement} list @param {ViewState} s
 * @param {(id: string) => void} onRetry
 * @param {(files: any[] | undefined) => HTMLElement | null} [files] a message's attachments
 * @param {(text: string) => void} [onQuickReply] sends a quick reply of the bot's newest answer
 */
export function renderMessages(list, s, onRetry, files, onQuickReply) {
  const seqs = [...s.events.keys()].sort((a, b) => a - b);
  const mineSeqs = seqs.filter((q) => {
    const f = /** @type {Frame} */ (s.events.get(q));
    return f.type === "message" && f.payload.sender_role === "client";
  });
  const lastMine = mineSeqs.at(-1);
  // Quick replies only under the bot's newest answer, while the bot still has the chat.
  const withBot = s.phase === "bot" || s.phase === "queued";
  const openBot = withBot && onQuickReply ? openBotSeq(s.events) : 0;
  const echoed = new Set();
  /** @type {HTMLElement[]} */
  const items = [];
  for (const [i, seq] of seqs.entries()) {
    const f = /** @type {Frame} */ (s.events.get(seq));
    const p = f.payload;
    if (f.type === "message") {
      if (p.client_msg_id) echoed.add(p.client_msg_id);
      const mine = p.sender_role === "client";
      const meta = [fmtTime(p.timestamp)];
      if (seq === lastMine) meta.push(s.peerRead >= seq ? "Seen" : "Sent");
      const withMeta = seq === lastMine || endsRun(s.events, seqs, i, HIDDEN);
      items.push(h(
        "li",
        { class: `msg ${mine ? "mine" : "theirs"}`, dataset: { seq: String(seq) } },
        h("div", { class: "bubble", text: p.message }, files?.(p.attachments) ?? null),
        withMeta && h("div", {
          class: `meta${seq === lastMine && s.peerRead >= seq ? " seen" : ""}`,
          text: meta.join(" · "),
        }),
      ));
    } else if (f.type === "bot_response") {
      items.push(botItem(f, { onQuickReply: seq === openBot ? onQuickReply : null }));
    } else {
      const text = noteText(f);
      if (text) {
        items.push(h(
          "li",
          { class: "note", dataset: { seq: String(seq), type: f.type } },
          h("span", { text: `${text} · ${fmtTime(p.timestamp)}` }),
        ));
      }
    }
  }
  for (const item of s.outbox) {
    if (echoed.has(item.client_msg_id)) continue;
    const failed = item.status === "failed";
    items.push(h(
      "li",
      {
        class: `msg mine pending${failed ? " failed" : ""}`,
        dataset: { cmid: item.client_msg_id },
      },
      h("div", { class: "bubble", text: item.text || pendingFiles(item) }),
      h(
        "div",
        { class: "meta" },
        failed ? `Not sent (${item.error?.code ?? "error"}) · ` : "Sending…",
        failed &&
          h("button", {
            type: "button",
            class: "link",
            text: "Retry",
            on: { click: () => onRetry(item.client_msg_id) },
          }),
      ),
    ));
  }
  list.replaceChildren(...items);
}

/** What a pending message without text shows: its files are on their way. */
export function pendingFiles(/** @type {OutboxItem} */ item) {
  const n = item.attachments?.length ?? 0;
  return n ? `Sending ${n} file${n > 1 ? "s" : ""}…` : "";
}

/** The waiting client's place in the queue and the estimated wait. */
export function queueText(/** @type {ViewState} */ s) {
  if (s.position === null) return "Waiting for an agent…";
  const place = s.position === 1
    ? "You're next in the queue"
    : `You're #${s.position} in the queue`;
  const wait = s.wait === null
    ? "estimating the wait…"
    : s.wait < 30
    ? "an agent will be with you shortly"
    : `estimated wait about ${fmtDuration(s.wait)}`;
  return `${place} · ${wait}`;
}

/**
 * Builds the five rating stars; `onPick(score)` when one is chosen.
 * @param {HTMLElement} box @param {(score: number) => void} onPick
 */
export function buildStars(box, onPick) {
  const stars = [1, 2, 3, 4, 5].map((n) =>
    h("button", {
      type: "button",
      class: "star",
      role: "radio",
      "aria-checked": "false",
      "aria-label": `${n} star${n > 1 ? "s" : ""}`,
      dataset: { score: String(n) },
      text: "★",
      on: {
        click: () => {
          stars.forEach((s, i) => {
            s.classList.toggle("on", i < n);
            s.setAttribute("aria-checked", String(i === n - 1));
          });
          onPick(n);
        },
      },
    })
  );
  box.replaceChildren(...stars);
}
