/**
 * Orphan cleanup: uploads that never went out with a message are deleted once older than
 * `ATTACHMENT_ORPHAN_TTL_S`. A bounded batch per run, a run every few minutes, on every node
 * (deletions are conditional, so nodes sweeping together do no harm).
 */
import type { Logger } from "../../log.ts";
import type { Clock, TimerId } from "../../runtime/clock.ts";
import type { AttachmentService } from "./service.ts";

export const SWEEP_EVERY_MS = 10 * 60_000;
export const SWEEP_BATCH = 100;

export class OrphanSweeper {
  readonly #svc: AttachmentService;
  readonly #clock: Clock;
  readonly #log: Logger;
  #timer: TimerId | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;

  constructor(svc: AttachmentService, clock: Clock, log: Logger) {
    this.#svc = svc;
    this.#clock = clock;
    this.#log = log;
  }

  start(): void {
    if (this.#stopped || this.#timer !== null) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      this.#running = this.#run().finally(() => {
        this.#running = null;
        this.start();
      });
    }, SWEEP_EVERY_MS);
  }

  async #run(): Promise<void> {
    try {
      const removed = await this.#svc.sweepOrphans(SWEEP_BATCH);
      if (removed > 0) this.#log.info("orphan attachments deleted", { removed });
    } catch (err) {
      this.#log.warn("orphan sweep failed", { err });
    }
  }

  /** Resolves when a sweep that is running now has finished (tests and shutdown). */
  async idle(): Promise<void> {
    await this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }
}
