// @ts-check
/**
 * Who a chat's client is, as the console names them: the name they gave when starting the chat
 * (`chat_created.client_name`), their Telegram name (a Telegram badge beside it), or, for a
 * visitor who gave none, "Visitor" and the end of their id, never a bare `v-5d8…`.
 */
import { h } from "../dom.js";
import { t } from "../i18n.js";

/** @typedef {import("./store.js").ChatState} ChatState */

/** A short, stable tag of an id: its last 4 characters. */
export const shortId = (/** @type {string} */ id) => id.replace(/[^\w]/g, "").slice(-4);

/** A visitor without a name: "Visitor 5d8a". */
export function visitorName(/** @type {string} */ clientId, /** @type {string} */ name = "") {
  if (name) return name;
  return clientId ? t("console.visitor", { id: shortId(clientId) }) : t("console.client");
}

/** The client's display name. */
export function clientName(/** @type {ChatState} */ c) {
  return visitorName(c.clientId, c.clientName || c.channel?.name || "");
}

/** A small badge naming the channel, or null for the web widget. */
export function channelBadge(/** @type {ChatState} */ c) {
  if (c.channel?.kind !== "telegram") return null;
  return h("span", {
    class: "badge channel-telegram",
    text: t("console.channel.telegram_name"),
    title: t("console.channel.telegram", { ref: c.channel.ref ?? "?", client: c.clientId }),
  });
}
