// @ts-check
/**
 * Which frames alert the operator, and how (alerts.js plays, counts and notifies): a chat new to
 * the queue, an offer, a chat transferred to me, a lawyer chat assigned to me, a message in my
 * chats and a mention in a note. Frames replayed from the past stay quiet: those older than a
 * minute, and a chat's history loaded after the live event that made it mine (recent messages
 * included: whether they came before or after that event used to depend on timing).
 */
import { t } from "../i18n.js";
import { alertOf } from "./alerts.js";
import { clientName } from "./channel.js";

/** @typedef {import("../transports.js").Frame} Frame */
/** @typedef {import("./store.js").Store} Store */

/**
 * Alerts for frames that need the operator (see alerts.js), after `store.apply(f)`. `listed`:
 * the queue's chats before a `queue_delta` (a chat new to the queue arrives in its `added`, not
 * as `new_chat_available`). `alert`: where alerts go (alerts.js's `alertOf`; tests pass theirs).
 * @param {Store} store @param {Frame} f @param {Set<string> | null} listed
 * @param {typeof alertOf} alert
 */
export function alertFor(store, f, listed, alert = alertOf) {
  const p = f.payload ?? {};
  const me = store.me?.user_id;
  const fresh = !store.lastWasHistory &&
    Date.now() - (Date.parse(p.timestamp ?? "") || Date.now()) < 60_000;
  const activeChat = store.activeId;
  const chat = p.chat_id ? store.chats.get(p.chat_id) : null;
  const who = chat ? clientName(chat) : "";
  if (f.type === "queue_delta" && listed && store.me?.role !== "lawyer") {
    for (const a of p.added) {
      if (!listed.has(a.chat_id)) {
        alert("queue", { title: t("console.alert.queue"), chatId: a.chat_id });
      }
    }
  } else if (f.type === "new_chat_available" && store.me?.role !== "lawyer") {
    alert("queue", { title: t("console.alert.queue"), chatId: p.chat_id });
  } else if (f.type === "chat_offered") {
    alert("offer", { title: t("console.alert.offer"), chatId: p.chat_id });
  } else if (f.type === "chat_transferred" && p.to_operator_id === me && fresh) {
    alert("transfer", {
      title: t("console.alert.transfer"),
      body: p.reason,
      chatId: p.chat_id,
      activeChat,
    });
  } else if (f.type === "chat_assigned" && p.operator_id === me && p.role === "lawyer" && fresh) {
    alert("transfer", { title: t("console.alert.lawyer"), chatId: p.chat_id, activeChat });
  } else if (f.type === "message" && chat?.mine && p.sender_id !== me && fresh) {
    alert("message", {
      title: t("console.alert.message", { name: who }),
      body: p.message,
      chatId: p.chat_id,
      activeChat,
    });
  } else if (f.type === "mention") {
    alert("mention", {
      title: t("console.alert.mention", { name: store.nameOf(p.by) }),
      body: p.text,
      chatId: p.chat_id,
    });
  }
}
