/**
 * The recent-message window of a session, kept as immutable blocks so that appending copies one
 * small block instead of the whole window, and retry lookups use a per-block index cached by
 * identity (full blocks never change). Plain JSON data: it is part of the snapshotted state.
 */
export interface RecentMessage {
  readonly seq: number;
  readonly senderId: string;
  /**
   * The sender as a participant key (`c:<id>` or `s:<id>`, see `participantKey`), so a client and
   * a staff member with the same id never stand for each other. Absent in entries stored before
   * keys had a kind: those match by `senderId` alone.
   */
  readonly by?: string;
  readonly clientMsgId?: string;
}

/** Who is asking: their participant key, and their bare id for entries without a key. */
export interface Sender {
  readonly key: string;
  readonly id: string;
}

export type RecentBlocks = readonly (readonly RecentMessage[])[];

/** Entries per block. */
export const BLOCK = 64;

/** Appends `entry`, keeping at least the last `limit` messages (at most `limit + BLOCK - 1`). */
export function appendRecent(
  blocks: RecentBlocks,
  entry: RecentMessage,
  limit: number,
): RecentBlocks {
  const last = blocks[blocks.length - 1];
  const next = last && last.length < BLOCK
    ? [...blocks.slice(0, -1), [...last, entry]]
    : [...blocks, [entry]];
  // Every block but the last is full; drop the oldest while the rest still hold `limit`.
  let drop = 0;
  let total = (next.length - 1) * BLOCK + next[next.length - 1].length;
  while (total - next[drop].length >= limit) total -= next[drop++].length;
  return drop > 0 ? next.slice(drop) : next;
}

/**
 * The entries `appendRecent` dropped from `before` to make `after` (whole blocks from the head;
 * the last block, when it was not full, was copied into `after`, not dropped).
 */
export function droppedRecent(before: RecentBlocks, after: RecentBlocks): RecentMessage[] {
  if (before.length === 0 || before[0] === after[0]) return [];
  const kept = new Set(after);
  const last = before[before.length - 1];
  return before.filter((b) => !kept.has(b) && !(b === last && b.length < BLOCK)).flat();
}

/**
 * Retry lookups go through an index per full block: client-made id → place in the block, keyed
 * by the entry's own string (no new strings); the rare block where two senders used the same id
 * is searched whole. Cached by identity (full blocks never change), outside the state.
 */
const indexes = new WeakMap<readonly RecentMessage[], Map<string, number>>();
const CLASH = -1;

function indexOf(block: readonly RecentMessage[]): Map<string, number> {
  let index = indexes.get(block);
  if (!index) {
    index = new Map();
    block.forEach((m, i) => {
      if (m.clientMsgId === undefined) return;
      index!.set(m.clientMsgId, index!.has(m.clientMsgId) ? CLASH : i);
    });
    indexes.set(block, index);
  }
  return index;
}

const sentBy = (m: RecentMessage, s: Sender) =>
  m.by === undefined ? m.senderId === s.id : m.by === s.key;

function scan(block: readonly RecentMessage[], sender: Sender, clientMsgId: string) {
  for (let i = block.length - 1; i >= 0; i--) {
    const m = block[i];
    if (m.clientMsgId === clientMsgId && sentBy(m, sender)) return m.seq;
  }
  return undefined;
}

/** The seq of an earlier message of `sender` with this client-made id, if the window holds it. */
export function findRecent(
  blocks: RecentBlocks,
  sender: Sender,
  clientMsgId: string,
): number | undefined {
  let b = blocks.length - 1;
  const open = blocks[b];
  if (open && open.length < BLOCK) {
    const seq = scan(open, sender, clientMsgId);
    if (seq !== undefined) return seq;
    b--;
  }
  for (; b >= 0; b--) {
    const at = indexOf(blocks[b]).get(clientMsgId);
    if (at === undefined) continue;
    const seq = at === CLASH
      ? scan(blocks[b], sender, clientMsgId)
      : sentBy(blocks[b][at], sender)
      ? blocks[b][at].seq
      : undefined;
    if (seq !== undefined) return seq;
  }
  return undefined;
}

/**
 * A window entry whose sender strings are those of an earlier entry of the same sender, when the
 * last few entries have one: a chat's messages share two or three senders, so each entry then
 * costs its seq and client-made id only.
 */
export function recentEntry(
  blocks: RecentBlocks,
  seq: number,
  senderId: string,
  by: string,
  clientMsgId: string | undefined,
): RecentMessage {
  let shared: RecentMessage | undefined;
  for (let b = blocks.length - 1, seen = 0; b >= 0 && seen < 8 && !shared; b--) {
    const block = blocks[b];
    for (let i = block.length - 1; i >= 0 && seen < 8; i--, seen++) {
      if (block[i].by === by && block[i].senderId === senderId) {
        shared = block[i];
        break;
      }
    }
  }
  return {
    seq,
    senderId: shared?.senderId ?? senderId,
    by: shared?.by ?? by,
    ...(clientMsgId === undefined ? {} : { clientMsgId }),
  };
}

/** Messages with seq > `afterSeq` in the window that `reader` did not send. */
export function countRecentAfter(
  blocks: RecentBlocks,
  reader: Sender,
  afterSeq: number,
): number {
  let n = 0;
  for (let b = blocks.length - 1; b >= 0; b--) {
    const block = blocks[b];
    if (block.length > 0 && block[block.length - 1].seq <= afterSeq) break;
    for (const m of block) if (m.seq > afterSeq && !sentBy(m, reader)) n++;
  }
  return n;
}

/** Messages the window holds. */
export function recentCount(blocks: RecentBlocks): number {
  if (blocks.length === 0) return 0;
  return (blocks.length - 1) * BLOCK + blocks[blocks.length - 1].length;
}

/** The window as one list, oldest first (tests and diagnostics). */
export function recentList(blocks: RecentBlocks): RecentMessage[] {
  return blocks.flat();
}
