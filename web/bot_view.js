// @ts-check
/**
 * The bot's turns (`bot_response` frames) in a conversation: a bubble marked as the assistant's,
 * and under the newest one its quick replies, which send their text as an ordinary message.
 * Used by the widget (with buttons) and the console (with intent and confidence for staff).
 */
import { h } from "./dom.js";
import { fmtPercent, fmtTime, t } from "./i18n.js";

/** @typedef {import("./transports.js").Frame} Frame */

/**
 * @param {Frame} f a `bot_response` frame
 * @param {{ onQuickReply?: ((text: string) => void) | null, staff?: boolean }} [opts]
 *   `onQuickReply`: set for the newest answer while the bot still has the chat;
 *   `staff`: show the intent and confidence (the console)
 */
export function botItem(f, opts = {}) {
  const p = f.payload;
  const m = p.metadata ?? {};
  const pick = opts.onQuickReply;
  const replies = pick ? /** @type {string[]} */ (m.quick_replies ?? []) : [];
  const who = opts.staff
    ? t("common.bot.staff", { intent: m.intent, confidence: fmtPercent(m.confidence ?? 0) })
    : t("common.bot.assistant");
  return h(
    "li",
    { class: "msg theirs bot", dataset: { seq: String(p.seq), intent: m.intent ?? "" } },
    h("div", { class: "bubble", text: p.content }),
    h("div", { class: "meta", text: `${who} · ${fmtTime(p.timestamp)}` }),
    replies.length > 0 && h(
      "div",
      { class: "quick-replies" },
      ...replies.map((text) =>
        h("button", {
          type: "button",
          class: "quick-reply",
          text,
          on: { click: () => pick?.(text) },
        })
      ),
    ),
  );
}

/** The seq of the newest bot answer no client message has followed yet, or 0. */
export function openBotSeq(/** @type {Map<number, Frame>} */ events) {
  let bot = 0;
  let client = 0;
  for (const [seq, f] of events) {
    if (f.type === "bot_response") bot = Math.max(bot, seq);
    if (f.type === "message" && f.payload.sender_role === "client") client = Math.max(client, seq);
  }
  return bot > client ? bot : 0;
}
