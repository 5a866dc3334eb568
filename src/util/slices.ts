/**
 * Long background work cut into short slices of the event loop: the work calls `breathe()` between
 * items, and once a slice has run {@link SLICE_MS} it waits one macrotask turn, so that frames,
 * socket reads and commits queued meanwhile go first. Written here (not a library): Deno has no
 * `scheduler.yield`, and this is a clock read and a `setTimeout(0)`. Wall time only decides when
 * to yield, never what is computed, so results stay deterministic.
 */
import { settle } from "../runtime/clock.ts";

/** Longest stretch of background work between two turns of the event loop (ms). */
export const SLICE_MS = 2;

export class Slices {
  #since = performance.now();
  /** Turns given up so far. */
  yields = 0;

  constructor(readonly ms = SLICE_MS) {}

  /** Gives the event loop a turn when this slice has run long enough. */
  async breathe(): Promise<void> {
    if (performance.now() - this.#since < this.ms) return;
    this.yields++;
    await settle(1);
    this.#since = performance.now();
  }
}
