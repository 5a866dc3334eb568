/**
 * Staff queue views that cost a bounded number of frames per second whatever the arrival rate.
 *
 * - `QueueViewSource` runs where the queue actor lives. Queue commits only mark the view dirty;
 *   at most once per `intervalMs` (on the injected clock) it reads the head of the queue and the
 *   counts from the live state (O(head · log n)) and emits one `queue_view` hub operation. An
 *   isolated change is sent at once; changes that follow within the interval wait for its end.
 * - `QueueViews` runs on every node (the operation reaches each one, like every hub operation).
 *   It keeps the view this node last showed and turns the next one into frames once, for all
 *   its staff connections: a `queue_delta` for those that asked for it, a few legacy frames or a
 *   `queue_snapshot` for the others.
 */
import {
  activeCount,
  type QueueEvent,
  type QueueState,
  serviceRate,
  waitingCount,
  waitingPage,
} from "../../actors/queue.ts";
import type { Clock, TimerId } from "../runtime/clock.ts";
import type { Envelope } from "../runtime/entity.ts";
import type { OutboundFrame } from "../protocol/mod.ts";
import type { Hub } from "./hub.ts";
import {
  type Gone,
  type HeadEntry,
  type QueueView,
  snapshotFrame,
  type ViewBase,
  viewFrames,
} from "./_queue_view_diff.ts";

export type { QueueView, ViewBase };

export interface ViewSettings {
  readonly queue: string;
  readonly headSize: number;
  readonly intervalMs: number;
}

/** Chat departures remembered per view at most (their reasons; older ones read "moved"). */
const GONE_MAX = 2000;

const iso = (ms: number) => new Date(ms).toISOString();

/** The head entries of the first `n` waiting chats. */
export function headOf(state: QueueState, n: number): HeadEntry[] {
  return waitingPage(state, 0, n).map((w) => ({
    chat_id: w.chatId,
    client_id: w.clientId,
    priority: w.priority,
    waiting_since: iso(w.enqueuedAt),
    ...(w.requeued ? { requeued: true } : {}),
  }));
}

/** On the queue's node: coalesces queue commits into one view per interval. */
export class QueueViewSource {
  readonly #o: ViewSettings;
  readonly #clock: Clock;
  readonly #state: () => QueueState | undefined;
  readonly #emit: (view: QueueView) => void;
  readonly #gone = new Map<string, Gone>();
  #lastAt = -Infinity;
  #timer: TimerId | null = null;
  #stopped = false;

  constructor(
    o: ViewSettings,
    clock: Clock,
    state: () => QueueState | undefined,
    emit: (view: QueueView) => void,
  ) {
    this.#o = o;
    this.#clock = clock;
    this.#state = state;
    this.#emit = emit;
  }

  /** Queue events were stored: note departures; send now, or at the end of the interval. */
  onCommit(envs: readonly Envelope<QueueEvent>[]): void {
    for (const { event: e } of envs) {
      if (e.type === "claimed") {
        this.#depart({ chat_id: e.chatId, reason: "assigned", operator_id: e.operatorId });
      } else if (e.type === "released" && e.from === "waiting") {
        this.#depart({ chat_id: e.chatId, reason: "closed" });
      }
    }
    if (this.#stopped || this.#timer !== null) return;
    const wait = this.#lastAt + this.#o.intervalMs - this.#clock.now();
    if (wait <= 0) this.flush();
    else this.#timer = this.#clock.setTimeout(() => this.flush(), wait);
  }

  /** Emits the current view (the timer calls it; tests may too). */
  flush(): void {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    const state = this.#state();
    if (this.#stopped || !state) return;
    this.#lastAt = this.#clock.now();
    const gone = [...this.#gone.values()];
    this.#gone.clear();
    this.#emit({
      queue: this.#o.queue,
      headSize: this.#o.headSize,
      total: waitingCount(state),
      active: activeCount(state),
      head: headOf(state, this.#o.headSize),
      gone,
      rate: serviceRate(state.recentClaims),
    });
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #depart(g: Gone): void {
    this.#gone.delete(g.chat_id);
    this.#gone.set(g.chat_id, g);
    if (this.#gone.size > GONE_MAX) this.#gone.delete(this.#gone.keys().next().value!);
  }
}

/**
 * On every node: the view its staff connections hold, and the frames to the next one. A
 * connection that just got its `queue_snapshot` from the queue's current state may hold another
 * view than the last one: its frames to the next view are worked out for it alone, once.
 */
export class QueueViews {
  readonly #o: ViewSettings;
  readonly #hub: Hub;
  #prev: ViewBase | null = null;
  /** Views applied (diagnostics and tests). */
  views = 0;

  constructor(o: ViewSettings, hub: Hub) {
    this.#o = o;
    this.#hub = hub;
  }

  /** A view from the queue's node: the frames to it go to this node's staff connections. */
  apply(view: QueueView): void {
    this.views++;
    const prev = this.#prev;
    this.#prev = { total: view.total, active: view.active, head: view.head };
    const { delta, legacy } = prev ? viewFrames(prev, view) : { delta: null, legacy: [] };
    this.#hub.toQueueWatchers(delta, legacy, (since) => viewFrames(since as ViewBase, view));
  }

  /** True when `v` is the view this node showed last (a connection holding it takes its changes). */
  shows(v: ViewBase): boolean {
    const p = this.#prev;
    return p !== null && p.total === v.total && p.active === v.active &&
      p.head.length === v.head.length &&
      p.head.every((e, i) => JSON.stringify(e) === JSON.stringify(v.head[i]));
  }

  /** The `queue_snapshot` of a head and counts read now (see the class comment). */
  snapshotOf(v: ViewBase): OutboundFrame {
    return snapshotFrame(this.#o.queue, this.#o.headSize, v);
  }
}
