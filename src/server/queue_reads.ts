/**
 * Reads of the queue for services and connections, whatever its size: pages, counts, the roster,
 * places in the queue and the head shown to staff. Where the pinned queue actor lives (every
 * node on one; its owner in a cluster) they read its live state (O(log n + page), nothing
 * copied whole); elsewhere they ask it with the matching read-only command.
 */
import {
  activeCount,
  pageOf,
  positionOf,
  positionsOf,
  type QueueCommand,
  queueEntity,
  type QueueReplies,
  type QueueState,
  rosterOf,
  statsOf,
  waitingCount,
} from "../../actors/queue.ts";
import type { ActorRouter } from "../runtime/system.ts";
import { headOf, type ViewBase } from "./queue_view.ts";

export class QueueReads {
  readonly #router: ActorRouter;
  readonly #queue: string;
  readonly #headSize: number;
  readonly #live: () => QueueState | undefined;

  constructor(
    router: ActorRouter,
    queue: string,
    headSize: number,
    live: () => QueueState | undefined,
  ) {
    this.#router = router;
    this.#queue = queue;
    this.#headSize = headSize;
    this.#live = live;
  }

  #ask<K extends QueueCommand["type"] & keyof QueueReplies>(
    command: Extract<QueueCommand, { type: K }>,
  ): Promise<QueueReplies[K]> {
    return this.#router.ask(queueEntity, this.#queue, command) as Promise<QueueReplies[K]>;
  }

  /**
   * A page of the waiting chats (and of the taken ones, or all of `heldBy`'s) with the counts.
   */
  async page(
    offset: number,
    limit: number,
    activeOffset = 0,
    activeLimit = 0,
    heldBy?: string,
  ): Promise<QueueReplies["page"]> {
    const live = this.#live();
    if (live) return pageOf(live, offset, limit, activeOffset, activeLimit, heldBy);
    return await this.#ask({
      type: "page",
      offset,
      limit,
      activeOffset,
      activeLimit,
      ...(heldBy === undefined ? {} : { heldBy }),
    });
  }

  /** Counts, waits and claims (statistics). */
  async stats(): Promise<QueueReplies["stats"]> {
    const live = this.#live();
    return live ? statsOf(live) : await this.#ask({ type: "stats" });
  }

  /** The roster. */
  async roster(): Promise<QueueReplies["roster"]> {
    const live = this.#live();
    return live ? rosterOf(live) : await this.#ask({ type: "roster" });
  }

  /** One waiting chat's place (0 when not waiting) and the recent claims for its estimate. */
  async position(chatId: string): Promise<QueueReplies["position"]> {
    const live = this.#live();
    return live ? positionOf(live, chatId) : await this.#ask({ type: "position", chatId });
  }

  /** The places of several chats (0 for those not waiting), O(k log n). */
  async positions(chatIds: string[]): Promise<QueueReplies["positions"]> {
    const live = this.#live();
    return live ? positionsOf(live, chatIds) : await this.#ask({ type: "positions", chatIds });
  }

  /** The head and counts shown to staff, now, when the queue lives here; else null. */
  viewHere(): ViewBase | null {
    const live = this.#live();
    if (!live) return null;
    return {
      total: waitingCount(live),
      active: activeCount(live),
      head: headOf(live, this.#headSize),
    };
  }

  /** The head and counts shown to staff, now (live here, or asked). */
  async view(): Promise<ViewBase> {
    const here = this.viewHere();
    if (here) return here;
    const page = await this.page(0, this.#headSize);
    return {
      total: page.waitingTotal,
      active: page.activeTotal,
      head: page.waiting.map((w) => ({
        chat_id: w.chatId,
        client_id: w.clientId,
        priority: w.priority,
        waiting_since: new Date(w.enqueuedAt).toISOString(),
        ...(w.requeued ? { requeued: true } : {}),
      })),
    };
  }
}
