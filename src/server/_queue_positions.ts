/**
 * `queue_position` frames for waiting clients: one chat's place and estimated wait on demand,
 * and, after the queue changes, a frame for each client connected to this node whose place or
 * estimate changed, computed at most once per interval on the injected clock: O(k log n) for k
 * connected clients, never a pass over the whole queue per queue event.
 */
import { estimatedWaitSeconds, type QueueReplies, serviceRate } from "../../actors/queue.ts";
import type { Clock, TimerId } from "../runtime/clock.ts";
import { frame } from "../protocol/mod.ts";

const positionOf = (chatId: string, position: number, estimate: number | null) =>
  frame("queue_position", { chat_id: chatId, position, estimated_wait_s: estimate });

/** The `queue_position` frame of a waiting chat; null if it is not waiting. */
export function positionFrame(chatId: string, at: QueueReplies["position"]) {
  if (at.position < 1) return null;
  const estimate = estimatedWaitSeconds(at.position, serviceRate(at.recentClaims));
  return positionOf(chatId, at.position, estimate);
}

export interface PositionTrackerOptions {
  readonly intervalMs: number;
  readonly clock: Clock;
  /** Chats with a client connected to this node. */
  readonly chats: () => string[];
  /** Their places (0 = not waiting) and the recent claims, from the queue (live or asked). */
  readonly lookup: (chatIds: string[]) => Promise<QueueReplies["positions"]>;
  /** Sends a frame to the chat's followers on this node. */
  readonly send: (chatId: string, f: ReturnType<typeof positionOf>) => void;
  readonly onError?: (err: unknown) => void;
}

/** Remembers what each waiting client was last told, so only changes are sent. */
export class PositionTracker {
  readonly #o: PositionTrackerOptions;
  /** Last `queue_position` sent per waiting chat ("position:estimate"). */
  readonly #sent = new Map<string, string>();
  #lastAt = -Infinity;
  #timer: TimerId | null = null;
  #running = false;
  #again = false;
  #stopped = false;
  /** Passes made (tests and diagnostics). */
  passes = 0;

  constructor(o: PositionTrackerOptions) {
    this.#o = o;
  }

  /** The queue changed: recompute now, or at the end of the interval. */
  touch(): void {
    if (this.#stopped || this.#timer !== null) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    const wait = this.#lastAt + this.#o.intervalMs - this.#o.clock.now();
    if (wait <= 0) void this.#run();
    else {
      this.#timer = this.#o.clock.setTimeout(() => {
        this.#timer = null;
        void this.#run();
      }, wait);
    }
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  async #run(): Promise<void> {
    if (this.#stopped) return;
    this.#running = true;
    this.#lastAt = this.#o.clock.now();
    try {
      const chats = this.#o.chats();
      if (chats.length === 0) {
        this.#sent.clear();
        return;
      }
      this.passes++;
      const { positions, recentClaims } = await this.#o.lookup(chats);
      const rate = serviceRate(recentClaims);
      const seen = new Set<string>();
      chats.forEach((chatId, i) => {
        const position = positions[i];
        if (!(position > 0)) return;
        seen.add(chatId);
        const estimate = estimatedWaitSeconds(position, rate);
        const key = `${position}:${estimate}`;
        if (this.#sent.get(chatId) === key) return;
        this.#sent.set(chatId, key);
        this.#o.send(chatId, positionOf(chatId, position, estimate));
      });
      for (const id of this.#sent.keys()) if (!seen.has(id)) this.#sent.delete(id);
    } catch (err) {
      this.#o.onError?.(err);
    } finally {
      this.#running = false;
      if (this.#again) {
        this.#again = false;
        this.touch();
      }
    }
  }
}
