/**
 * Batches records per topic: everything sent in one turn of the event loop goes to the broker in
 * one `produce` call per topic. Bounded: past `max` records waiting, senders get `overloaded`.
 */
import { AppError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Broker, OutRecord } from "./broker.ts";

interface Waiting {
  records: OutRecord[];
  settle: Array<{ resolve(): void; reject(e: unknown): void }>;
}

export class Outbox {
  readonly #broker: Broker;
  readonly #max: number;
  readonly #log: Logger;
  readonly #quiet: (err: unknown) => boolean;
  #buf = new Map<string, Waiting>();
  #count = 0;
  #scheduled = false;
  #inFlight = 0;
  #idle: Array<() => void> = [];

  /**
   * `quiet` says whether a failed produce is already accounted for (the broker is unreachable:
   * counted, logged once per outage) rather than worth an error line of its own.
   */
  constructor(
    broker: Broker,
    max: number,
    log: Logger,
    quiet: (err: unknown) => boolean = () => false,
  ) {
    this.#broker = broker;
    this.#max = max;
    this.#log = log;
    this.#quiet = quiet;
  }

  /** Resolves once the broker acknowledged the record. */
  send(topic: string, record: OutRecord): Promise<void> {
    if (this.#count >= this.#max) {
      return Promise.reject(new AppError("overloaded", "Broker outbox is full"));
    }
    this.#count++;
    return new Promise((resolve, reject) => {
      let w = this.#buf.get(topic);
      if (!w) this.#buf.set(topic, w = { records: [], settle: [] });
      w.records.push(record);
      w.settle.push({ resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        queueMicrotask(() => this.#flush());
      }
    });
  }

  /** Resolves when nothing waits or is in flight. */
  flushed(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  #flush(): void {
    this.#scheduled = false;
    const buf = this.#buf;
    this.#buf = new Map();
    for (const [topic, w] of buf) {
      this.#inFlight++;
      this.#broker.produce(topic, w.records).then(
        () => w.settle.forEach((s) => s.resolve()),
        (err) => {
          if (!this.#quiet(err)) {
            this.#log.error("produce failed", { topic, records: w.records.length, err });
          }
          const e = new AppError("unavailable", "Broker did not take the records", { cause: err });
          w.settle.forEach((s) => s.reject(e));
        },
      ).finally(() => {
        this.#inFlight--;
        this.#count -= w.records.length;
        if (this.#count === 0) { for (const r of this.#idle.splice(0)) r(); }
      });
    }
  }
}
