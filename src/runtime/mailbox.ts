/** A bounded FIFO mailbox. When full, `push` refuses: the caller must report `overloaded`. */
export class Mailbox<T> {
  readonly capacity: number;
  #items: T[] = [];
  #head = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`Mailbox capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Slots still referenced, handled or not (tests: a drained mailbox keeps nothing). */
  get retained(): number {
    return this.#items.length;
  }

  get isEmpty(): boolean {
    return this.size === 0;
  }

  /** Appends `item`; returns false (and keeps nothing) when the mailbox is full. */
  push(item: T, overflow = 0): boolean {
    if (this.size >= this.capacity + overflow) return false;
    this.#items.push(item);
    return true;
  }

  /** Removes and returns up to `max` items in arrival order. */
  drain(max: number): T[] {
    const end = Math.min(this.#items.length, this.#head + max);
    const out = this.#items.slice(this.#head, end);
    this.#head = end;
    if (this.#head === this.#items.length) {
      // Empty: let go of handled messages at once (they hold texts, replies and callbacks).
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return out;
  }

  /** Puts `items` back at the front, in their order (messages not yet handled by a crash). */
  unshiftAll(items: readonly T[]): void {
    this.#items = [...items, ...this.#items.slice(this.#head)];
    this.#head = 0;
  }

  /** Removes everything, in order (used to fail pending messages on shutdown). */
  takeAll(): T[] {
    return this.drain(this.size);
  }
}
