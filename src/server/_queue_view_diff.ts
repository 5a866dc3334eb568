/**
 * The staff's view of the queue as data, and the frames that move a connection from one view to
 * the next: one `queue_delta` for connections that asked for it, a few legacy frames
 * (`new_chat_available`, `chat_removed`) for the others, or a fresh `queue_snapshot` when more
 * changed than those few frames can say. Pure functions; docs/PROTOCOL.md#queue-frames-staff.
 */
import { frame, type OutboundFrame } from "../protocol/mod.ts";

/** A waiting chat of the head, as the wire shows it (its position is its place in the head). */
export interface HeadEntry {
  readonly chat_id: string;
  readonly client_id: string;
  readonly priority: number;
  readonly waiting_since: string;
  readonly requeued?: boolean;
}

/** Why a chat left the waiting list (known on the queue's node, from its events). */
export interface Gone {
  readonly chat_id: string;
  readonly reason: "assigned" | "closed";
  readonly operator_id?: string;
}

/** What every staff connection of a node is shown: the head and the counts. */
export interface ViewBase {
  readonly total: number;
  readonly active: number;
  readonly head: readonly HeadEntry[];
}

/** One view of the queue, made on the queue's node once per interval (JSON: it crosses nodes). */
export interface QueueView extends ViewBase {
  readonly queue: string;
  readonly headSize: number;
  /** Chats that left the waiting list since the previous view, with why. */
  readonly gone: readonly Gone[];
  /** Chats taken per second lately (for wait estimates), or null. */
  readonly rate: number | null;
}

export interface ViewFrames {
  /** For connections with `features=queue_delta`; null when nothing they see changed. */
  readonly delta: OutboundFrame | null;
  /** For the others, in order (may be empty). */
  readonly legacy: OutboundFrame[];
}

/** Legacy frames per view at most; more changes than this send one `queue_snapshot` instead. */
export const LEGACY_FRAMES_PER_VIEW = 2;

const sameEntry = (a: HeadEntry, b: HeadEntry) =>
  a.client_id === b.client_id && a.priority === b.priority &&
  a.waiting_since === b.waiting_since && (a.requeued ?? false) === (b.requeued ?? false);

/** The `queue_snapshot` frame of a view (also what a staff connection gets when it connects). */
export function snapshotFrame(queue: string, headSize: number, v: ViewBase): OutboundFrame {
  return frame("queue_snapshot", {
    queue,
    total: v.total,
    active: v.active,
    head_size: headSize,
    chats: v.head.map((e) => ({ ...e })),
  });
}

/** The frames that take connections showing `prev` to `next`. */
export function viewFrames(prev: ViewBase, next: QueueView): ViewFrames {
  const inNext = new Map(next.head.map((e, i) => [e.chat_id, { e, i }]));
  const inPrev = new Map(prev.head.map((e) => [e.chat_id, e]));
  const reasons = new Map(next.gone.map((g) => [g.chat_id, g]));
  const removed = prev.head.filter((e) => !inNext.has(e.chat_id)).map((e) => {
    const g = reasons.get(e.chat_id);
    return g
      ? {
        chat_id: e.chat_id,
        reason: g.reason,
        ...(g.operator_id ? { operator_id: g.operator_id } : {}),
      }
      : { chat_id: e.chat_id, reason: "moved" as const };
  });
  // Chats in both keep their relative order unless a priority changed: then list the head anew.
  const keptPrev = prev.head.filter((e) => inNext.has(e.chat_id)).map((e) => e.chat_id);
  const keptNext = next.head.filter((e) => inPrev.has(e.chat_id)).map((e) => e.chat_id);
  const reset = keptPrev.some((id, i) => id !== keptNext[i]);
  const added = next.head
    .map((e, i) => ({ ...e, position: i + 1 }))
    .filter((e) => reset || !inPrev.has(e.chat_id) || !sameEntry(inPrev.get(e.chat_id)!, e));
  const counts = prev.total !== next.total || prev.active !== next.active;
  if (!reset && removed.length === 0 && added.length === 0 && !counts) {
    return { delta: null, legacy: [] };
  }
  const delta = frame("queue_delta", {
    queue: next.queue,
    total: next.total,
    active: next.active,
    head_size: next.headSize,
    ...(reset ? { reset: true } : {}),
    removed: reset ? [] : removed,
    added,
  });
  return { delta, legacy: legacyFrames(next, reset, removed, added) };
}

function legacyFrames(
  next: QueueView,
  reset: boolean,
  removed: ReadonlyArray<{ chat_id: string; reason: string; operator_id?: string }>,
  added: ReadonlyArray<HeadEntry & { position: number }>,
): OutboundFrame[] {
  if (reset || removed.length + added.length > LEGACY_FRAMES_PER_VIEW) {
    return [snapshotFrame(next.queue, next.headSize, next)];
  }
  return [
    ...removed.map((r) =>
      frame("chat_removed", r as { chat_id: string; reason: "assigned"; operator_id?: string })
    ),
    ...added.map((e) =>
      frame("new_chat_available", {
        chat_id: e.chat_id,
        client_id: e.client_id,
        priority: e.priority,
        waiting_since: e.waiting_since,
        position: e.position,
      })
    ),
  ];
}

/**
 * Applies a `queue_delta` payload to a listed head, as a client does (docs/PROTOCOL.md): tests
 * and the web console follow the same steps.
 */
export function applyDelta(
  head: readonly HeadEntry[],
  d: {
    reset?: boolean;
    removed: { chat_id: string }[];
    added: (HeadEntry & { position: number })[];
    head_size: number;
  },
): HeadEntry[] {
  let list = d.reset ? [] : [...head];
  const gone = new Set(d.removed.map((r) => r.chat_id));
  list = list.filter((e) => !gone.has(e.chat_id));
  for (const a of [...d.added].sort((x, y) => x.position - y.position)) {
    list = list.filter((e) => e.chat_id !== a.chat_id);
    const { position, ...entry } = a;
    list.splice(position - 1, 0, entry);
  }
  return list.slice(0, d.head_size);
}
