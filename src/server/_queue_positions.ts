/**
 * `queue_position` frames for waiting clients: one chat's position and estimated wait on demand,
 * and after each queue commit a frame for every waiting chat whose position or estimate changed.
 */
import {
  estimatedWaitSeconds,
  type QueueReplies,
  type QueueState,
  serviceRate,
  waitingChats,
} from "../../actors/queue.ts";
import { frame } from "../protocol/mod.ts";
import type { HubOp } from "./hub_ops.ts";

const positionOf = (chatId: string, position: number, estimate: number | null) =>
  frame("queue_position", { chat_id: chatId, position, estimated_wait_s: estimate });

/** The `queue_position` frame of a waiting chat; null if it is not waiting. */
export function positionFrame(chatId: string, at: QueueReplies["position"]) {
  if (at.position < 1) return null;
  const estimate = estimatedWaitSeconds(at.position, serviceRate(at.recentClaims));
  return positionOf(chatId, at.position, estimate);
}

/** Remembers what each waiting client was last told, so only changes are sent. */
export class PositionChanges {
  /** Last `queue_position` sent per waiting chat ("position:estimate"). */
  readonly #sent = new Map<string, string>();

  /** Adds a broadcast to `ops` for each waiting client whose position or estimate changed. */
  collect(state: QueueState, ops: HubOp[]): void {
    const rate = serviceRate(state.recentClaims);
    const seen = new Set<string>();
    let i = -1;
    for (const w of waitingChats(state)) {
      i++;
      seen.add(w.chatId);
      const estimate = estimatedWaitSeconds(i + 1, rate);
      const key = `${i + 1}:${estimate}`;
      if (this.#sent.get(w.chatId) === key) continue;
      this.#sent.set(w.chatId, key);
      ops.push({ op: "broadcast", chatId: w.chatId, frame: positionOf(w.chatId, i + 1, estimate) });
    }
    for (const id of this.#sent.keys()) if (!seen.has(id)) this.#sent.delete(id);
  }
}
