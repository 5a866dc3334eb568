/**
 * Work in order per key (a chat), different keys in parallel, with a bound on everything
 * pending. The bot and the titles answer a chat's messages one after the other, so a slow LLM
 * answer cannot overtake the answer to the message before it.
 */
export class KeyedSerial {
  readonly #tails = new Map<string, Promise<void>>();
  readonly #max: number;
  #pending = 0;

  constructor(maxPending: number) {
    this.#max = maxPending;
  }

  get pending(): number {
    return this.#pending;
  }

  /**
   * Runs `job` after the earlier jobs of `key`. Returns false, without running it, when
   * `maxPending` jobs are already waiting or running. A failing job does not stop later ones.
   */
  run(key: string, job: () => Promise<void>): boolean {
    if (this.#pending >= this.#max) return false;
    this.#pending++;
    const tail = (this.#tails.get(key) ?? Promise.resolve())
      .then(job)
      .catch(() => {}) // jobs handle their own errors; this only keeps the chain going
      .finally(() => {
        this.#pending--;
        if (this.#tails.get(key) === tail) this.#tails.delete(key);
      });
    this.#tails.set(key, tail);
    return true;
  }

  /** Resolves once everything pending now has finished. */
  async idle(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all([...this.#tails.values()]);
  }
}
