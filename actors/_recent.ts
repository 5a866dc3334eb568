/**
 * The recent-message window of a session, kept as immutable blocks so that appending copies one
 * small block instead of the whole window, and retry lookups use a per-block index cached by
 * identity (full blocks never change). Plain JSON data: it is part of the snapshotted state.
 */
export interface RecentMessage {
  readonly seq: number;
  readonly senderId: string;
  readonly clientMsgId?: string;
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

const indexes = new WeakMap<readonly RecentMessage[], Map<string, number>>();
const keyOf = (senderId: string, clientMsgId: string) => `${senderId}\u0000${clientMsgId}`;

function indexOf(block: readonly RecentMessage[]): Map<string, number> {
  let index = indexes.get(block);
  if (!index) {
    index = new Map();
    for (const m of block) {
      if (m.clientMsgId !== undefined) index.set(keyOf(m.senderId, m.clientMsgId), m.seq);
    }
    indexes.set(block, index);
  }
  return index;
}

/** The seq of an earlier message of `senderId` with this client-made id, if the window holds it. */
export function findRecent(
  blocks: RecentBlocks,
  senderId: string,
  clientMsgId: string,
): number | undefined {
  let b = blocks.length - 1;
  const open = blocks[b];
  if (open && open.length < BLOCK) {
    for (let i = open.length - 1; i >= 0; i--) {
      const m = open[i];
      if (m.clientMsgId === clientMsgId && m.senderId === senderId) return m.seq;
    }
    b--;
  }
  const key = keyOf(senderId, clientMsgId);
  for (; b >= 0; b--) {
    const seq = indexOf(blocks[b]).get(key);
    if (seq !== undefined) return seq;
  }
  return undefined;
}

/** Messages with seq > `afterSeq` in the window that `participantId` did not send. */
export function countRecentAfter(
  blocks: RecentBlocks,
  participantId: string,
  afterSeq: number,
): number {
  let n = 0;
  for (let b = blocks.length - 1; b >= 0; b--) {
    const block = blocks[b];
    if (block.length > 0 && block[block.length - 1].seq <= afterSeq) break;
    for (const m of block) if (m.seq > afterSeq && m.senderId !== participantId) n++;
  }
  return n;
}

/** The window as one list, oldest first (tests and diagnostics). */
export function recentList(blocks: RecentBlocks): RecentMessage[] {
  return blocks.flat();
}
