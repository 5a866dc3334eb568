// @ts-check
/**
 * How a chat's channel shows in the console: a Telegram user is listed by their Telegram name
 * with a "Telegram" badge (from `chat_created.channel`); web chats show the client id as before.
 */
import { h } from "../dom.js";

/** @typedef {import("./store.js").ChatState} ChatState */

/** The client's display name: the channel's name when it has one, else the client id. */
export function clientName(/** @type {ChatState} */ c) {
  return c.channel?.name || c.clientId;
}

/** A small badge naming the channel, or null for the web widget. */
export function channelBadge(/** @type {ChatState} */ c) {
  if (c.channel?.kind !== "telegram") return null;
  return h("span", {
    class: "badge channel-telegram",
    text: "Telegram",
    title: `Writes from Telegram (chat ${c.channel.ref ?? "?"}, client ${c.clientId})`,
  });
}
