/**
 * KV writes a session event carries in its own atomic: statistics counters and, for admin
 * actions, audit records. Derived from stored events only, so they stay right across restarts.
 */
import type { Envelope, KvWrite } from "../src/runtime/entity.ts";
import { auditWrites, source } from "./_audit.ts";
import { type OperatorCounter, statsKeys } from "./_stats.ts";
import type { SessionEvent, SessionState } from "./session.ts";
import { droppedRecent } from "./_recent.ts";
import { rangeWrites } from "./_stats_range.ts";

const sum = (key: Deno.KvKey, n: number): KvWrite => ({
  op: "sum",
  key,
  n: BigInt(Math.max(0, Math.round(n))),
});
const op = (id: string, field: OperatorCounter, n: number) => sum(statsKeys.operator(id, field), n);

/**
 * The chat's feed marks → KvU64, the seq of its latest stored event (the runtime raises them with
 * every batch, `Entity.seqMarks`): `["feed", chatId]` for every chat (followed by the webhook
 * intake), and `["feed_ch", chatId]` for chats of an outside channel (followed by that channel's
 * outbound, e.g. Telegram), and `["feed_search", chatId]` for every chat (followed by the search
 * indexer). Each follower keeps a cursor per chat and catches up from the log wherever a mark is
 * ahead of it: src/integrations/feed.ts.
 */
export const FEED_PREFIX = ["feed"] as const;
export const CHANNEL_FEED_PREFIX = ["feed_ch"] as const;
export const SEARCH_FEED_PREFIX = ["feed_search"] as const;
export const feedKey = (chatId: string): Deno.KvKey => [...FEED_PREFIX, chatId];
export const channelFeedKey = (chatId: string): Deno.KvKey => [...CHANNEL_FEED_PREFIX, chatId];
export const searchFeedKey = (chatId: string): Deno.KvKey => [...SEARCH_FEED_PREFIX, chatId];

/**
 * Stored messages that have a dedup key (the client's `client_msg_id`, or the node's request id)
 * → their seq, written when they leave the state's recent window (with the message that pushed
 * them out, in its atomic): a retry is recognised for as long as the chat exists, and a chat
 * shorter than the window (most are) writes none. Chats stored by earlier versions have every
 * message here; that only answers the same.
 */
export const MSGID_PREFIX = ["msgid"] as const;
export const msgIdKey = (chatId: string, senderKey: string, key: string): Deno.KvKey => [
  ...MSGID_PREFIX,
  chatId,
  senderKey,
  key,
];

export function sessionSeqMarks(id: string, s: SessionState): Deno.KvKey[] {
  const marks = [feedKey(id), searchFeedKey(id)];
  return s.channel && s.channel.kind !== "web" ? [...marks, channelFeedKey(id)] : marks;
}

/** Every write of one session event: the counters and records below, and the range buckets. */
export function sessionWrites(
  before: SessionState,
  env: Envelope<SessionEvent>,
  after: SessionState,
): KvWrite[] {
  return [...eventWrites(before, env, after), ...rangeWrites(before, env, after)];
}

function eventWrites(
  before: SessionState,
  env: Envelope<SessionEvent>,
  after: SessionState,
): KvWrite[] {
  const e = env.event;
  switch (e.type) {
    case "created":
      return [sum(statsKeys.chatsCreated(), 1)];
    case "message": {
      const out = [sum(statsKeys.messages(), 1)];
      for (const m of droppedRecent(before.recentMessages, after.recentMessages)) {
        // Entries older than sender keys (no `by`) were never looked up by key.
        if (m.clientMsgId === undefined || m.by === undefined) continue;
        out.push({ op: "set", key: msgIdKey(after.id, m.by, m.clientMsgId), value: m.seq });
      }
      const firstResponse = before.firstResponseAt === null && after.firstResponseAt !== null;
      if (firstResponse && before.assignedAt !== null && e.senderRole !== "client") {
        out.push(op(e.senderId, "frt_ms", e.at - before.assignedAt), op(e.senderId, "frt_n", 1));
      }
      return out;
    }
    case "assigned":
      return [op(e.operatorId, "assigned", 1)];
    case "transferred":
      return e.to === null ? [] : [op(e.to, "assigned", 1)];
    case "closed": {
      const out = [sum(statsKeys.chatsClosed(), 1)];
      if (before.operatorId !== null && before.assignedAt !== null) {
        out.push(op(before.operatorId, "handled", 1));
        out.push(op(before.operatorId, "resolution_ms", e.at - before.assignedAt));
      }
      if (e.byRole === "admin") {
        out.push(...auditWrites({
          at: env.at,
          source: source("session", after.id, env),
          action: "closed",
          actor: { id: e.byId, role: e.byRole },
          chat_id: after.id,
          operator_ids: before.operatorId ? [before.operatorId] : [],
          reason: e.reason ?? "closed by an admin",
        }));
      }
      return out;
    }
    case "rated":
      if (after.operatorId === null) return [];
      return [op(after.operatorId, "rating_sum", e.score), op(after.operatorId, "rating_n", 1)];
    case "lawyer_assigned":
      return auditWrites({
        at: env.at,
        source: source("session", after.id, env),
        action: "lawyer_assigned",
        actor: { id: e.byId, role: e.byRole },
        chat_id: after.id,
        operator_ids: [e.lawyerId, e.byId],
        reason: `lawyer ${e.lawyerId} assigned in chat ${e.lawyerChatId}`,
      });
    case "escalated":
      return auditWrites({
        at: env.at,
        source: source("session", after.id, env),
        action: "escalated",
        actor: { id: "bot", role: "admin" },
        chat_id: after.id,
        operator_ids: [],
        reason: e.reason,
      });
    case "queued":
    case "read":
    case "bot_message":
    case "titled":
      return [];
  }
}
