/** What a session shows to its participants: a copy of the state without internals. */
import { type Caller, participantKey, senderOf } from "./_common.ts";
import { countRecentAfter, findRecent, recentCount } from "./_recent.ts";
import type { Channel, Rating, SessionKind, SessionState, SessionStatus } from "./session.ts";

export interface SessionView {
  readonly chatId: string;
  readonly status: SessionStatus;
  readonly kind: SessionKind;
  readonly clientId: string;
  readonly operatorId: string | null;
  readonly queue: string;
  readonly seq: number;
  readonly priority: number;
  readonly createdAt: number | null;
  readonly queuedAt: number | null;
  readonly assignedAt: number | null;
  readonly closedAt: number | null;
  readonly rating: Rating | null;
  readonly lastRead: Readonly<Record<string, number>>;
  readonly linkedChatId?: string;
  readonly title?: string;
  readonly channel?: Channel;
  readonly escalated?: boolean;
  readonly offline?: boolean;
  /** Support chat: the lawyers assigned from it (they may read it). */
  readonly lawyerIds?: string[];
}

export function sessionView(s: SessionState): SessionView {
  return {
    chatId: s.id,
    status: s.status,
    kind: s.kind,
    clientId: s.clientId,
    operatorId: s.operatorId,
    queue: s.queue,
    seq: s.seq,
    priority: s.priority,
    createdAt: s.createdAt,
    queuedAt: s.queuedAt,
    assignedAt: s.assignedAt,
    closedAt: s.closedAt,
    rating: s.rating === null ? null : { ...s.rating },
    lastRead: { ...s.lastRead },
    ...(s.linkedChatId === undefined ? {} : { linkedChatId: s.linkedChatId }),
    ...(s.title === undefined ? {} : { title: s.title }),
    ...(s.channel === undefined ? {} : { channel: { ...s.channel } }),
    ...(s.escalated ? { escalated: true } : {}),
    ...(s.offline ? { offline: true } : {}),
    ...(s.lawyers ? { lawyerIds: Object.keys(s.lawyers) } : {}),
  };
}

/** Messages in the recent window with a seq after `lastReadSeq` that `reader` did not send. */
export function unreadCount(s: SessionState, reader: Caller, lastReadSeq: number): number {
  return countRecentAfter(s.recentMessages, senderOf(reader), lastReadSeq);
}

/** The highest seq `reader` has read (marks stored before keys had a kind are found too). */
export function lastReadOf(s: SessionState, reader: Caller): number {
  const key = participantKey(reader);
  if (Object.hasOwn(s.lastRead, key)) return s.lastRead[key];
  return Object.hasOwn(s.lastRead, reader.id) ? s.lastRead[reader.id] : 0;
}

/** The seq of an earlier message of `senderId` with this client-made id, if the window holds it. */
/**
 * The key a message is found again by: the client's id, or the node's request id in a namespace
 * of its own (a leading NUL, which no client id is compared against) so the two never meet.
 */
export function dedupKey(m: { clientMsgId?: string; requestId?: string }): string | undefined {
  if (m.clientMsgId !== undefined) return m.clientMsgId;
  return m.requestId === undefined ? undefined : `\u0000${m.requestId}`;
}

/** Whether messages older than the recent window exist (their ids are in the stored index). */
export function windowMissesOlder(s: SessionState): boolean {
  return s.messageCount > recentCount(s.recentMessages);
}

export function findDuplicate(
  s: SessionState,
  sender: Caller,
  clientMsgId: string,
): number | undefined {
  return findRecent(s.recentMessages, senderOf(sender), clientMsgId);
}
