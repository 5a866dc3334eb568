/**
 * The queue as connections see it, on one node: reads of it (src/server/queue_reads.ts), the
 * staff views of its head (src/server/queue_view.ts: the source where the queue lives, the frames
 * on every node) and the waiting clients' places (src/server/_queue_positions.ts), on the
 * injected clock. The chat service hands it the queue's commits and the views that reach the node.
 */
import type { QueueEvent, QueueState } from "../../actors/queue.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Envelope } from "../runtime/entity.ts";
import type { ActorRouter } from "../runtime/system.ts";
import type { Logger } from "../log.ts";
import type { Hub } from "./hub.ts";
import { positionFrame, PositionTracker } from "./_queue_positions.ts";
import { QueueReads } from "./queue_reads.ts";
import { type QueueView, QueueViews, QueueViewSource } from "./queue_view.ts";

export interface QueueLiveOptions {
  readonly queue: string;
  readonly router: ActorRouter;
  readonly hub: Hub;
  readonly clock: Clock;
  readonly log: Logger;
  /** The pinned queue actor's state, when it lives on this node. */
  readonly state: () => QueueState | undefined;
  /** Sends a view to every node (this one included). */
  readonly publish: (view: QueueView) => void;
  readonly headSize?: number;
  readonly intervalMs?: number;
  readonly positionIntervalMs?: number;
}

export class QueueLive {
  readonly reads: QueueReads;
  readonly views: QueueViews;
  readonly #source: QueueViewSource;
  readonly #positions: PositionTracker;

  constructor(o: QueueLiveOptions) {
    const view = {
      queue: o.queue,
      headSize: o.headSize ?? 20,
      intervalMs: o.intervalMs ?? 250,
    };
    this.reads = new QueueReads(o.router, o.queue, view.headSize, o.state);
    this.views = new QueueViews(view, o.hub);
    this.#source = new QueueViewSource(view, o.clock, o.state, o.publish);
    this.#positions = new PositionTracker({
      intervalMs: o.positionIntervalMs ?? 1000,
      clock: o.clock,
      chats: () => o.hub.clientChatIds(),
      lookup: (chatIds) => this.reads.positions(chatIds),
      send: (chatId, f) => o.hub.broadcast(chatId, f),
      onError: (err) => o.log.warn("queue positions failed", { err }),
    });
  }

  /** Queue events were stored here: a view follows, now or at the end of the interval. */
  onCommit(envs: readonly Envelope<QueueEvent>[]): void {
    this.#source.onCommit(envs);
  }

  /** A view reached this node: its staff connections get the changes, its clients their places. */
  applyView(view: QueueView): void {
    this.views.apply(view);
    this.#positions.touch();
  }

  /** The `queue_position` frame of a waiting chat (null when it is not waiting). */
  async currentPosition(chatId: string) {
    return positionFrame(chatId, await this.reads.position(chatId));
  }

  /** Stops the view and position timers (shutdown). */
  stop(): void {
    this.#source.stop();
    this.#positions.stop();
  }
}
