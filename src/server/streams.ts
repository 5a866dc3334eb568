/**
 * Hub keys of the two streams a chat has: the chat's own (its id; every participant, the client
 * included) and its staff stream (`staff:<chatId>`: internal notes and labels, with a seq of its
 * own), which only staff connections may follow. Keeping notes out of the chat's own log keeps a
 * client's seqs gap-free: a client never learns that staff wrote anything.
 */

export const STAFF_STREAM_PREFIX = "staff:";

/** The hub key of a chat's staff stream. */
export function staffStream(chatId: string): string {
  return `${STAFF_STREAM_PREFIX}${chatId}`;
}

/** Whether a hub key names a staff stream. */
export function isStaffStream(key: string): boolean {
  return key.startsWith(STAFF_STREAM_PREFIX);
}

/** The chat a hub key belongs to, and which of its streams it is. */
export function streamOf(key: string): { chatId: string; stream: "chat" | "staff" } {
  return isStaffStream(key)
    ? { chatId: key.slice(STAFF_STREAM_PREFIX.length), stream: "staff" }
    : { chatId: key, stream: "chat" };
}
