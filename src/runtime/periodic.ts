/**
 * A job that runs every `everyMs` on the injected clock and on demand, never two runs at once:
 * a call during a run waits for it and then runs again. Failures of timed runs go to `onError`
 * and the next run still comes; `stop()` ends the timer and waits for a run under way. Shared by
 * the background jobs that keep their own state between runs (retention sweeps, the audit feed).
 */
import type { Clock, TimerId } from "./clock.ts";

export class PeriodicJob<T> {
  readonly #clock: Clock;
  readonly #everyMs: number;
  readonly #run: () => Promise<T>;
  readonly #onError: (err: unknown) => void;
  #timer: TimerId | null = null;
  #running: Promise<T> | null = null;
  #stopped = false;

  constructor(
    clock: Clock,
    everyMs: number,
    run: () => Promise<T>,
    onError: (err: unknown) => void,
  ) {
    this.#clock = clock;
    this.#everyMs = everyMs;
    this.#run = run;
    this.#onError = onError;
  }

  /** Starts the timer: the first timed run comes after one interval. */
  start(): void {
    this.#schedule();
  }

  /** One run now (after the one under way, if any). */
  run(): Promise<T> {
    if (this.#running) return this.#running.catch(() => {}).then(() => this.run());
    const run = this.#run().finally(() => this.#running = null);
    this.#running = run;
    return run;
  }

  /** Stops the timer and waits for a run under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running?.catch(() => {});
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      this.run().catch(this.#onError).finally(() => this.#schedule());
    }, this.#everyMs);
  }
}
