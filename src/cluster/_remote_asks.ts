/**
 * The asking side of remote `ask` (src/cluster/node.ts): each ask goes out on `chat.commands`
 * with a correlation id and waits, bounded in number and in time, for its reply on
 * `chat.replies`. A reply `moved` (the partition was being handed over, or the owner's write
 * was fenced: the command did not run) sends the same command again after a short backoff, for
 * as long as the ask has time left, so users see latency, not an error.
 */
import { z } from "zod";
import { AppError, ERROR_CODES, type ErrorCode, toAppError } from "../errors.ts";
import type { Clock, TimerId } from "../runtime/clock.ts";
import type { Outbox } from "./outbox.ts";
import { TOPICS } from "./topics.ts";

export const ReplyRecord = z.union([
  z.object({ corr: z.string(), ok: z.literal(true), reply: z.unknown() }),
  z.object({
    corr: z.string(),
    ok: z.literal(false),
    code: z.string(),
    message: z.string(),
    moved: z.boolean().optional(),
  }),
]);

interface PendingAsk {
  resolve(v: unknown): void;
  reject(e: AppError): void;
  /** Sends the command (again, after a `moved` reply). */
  send(): void;
  attempts: number;
  timer: TimerId;
}

/** Backoff before an ask that met a moving actor goes again (ms); the last one repeats. */
const MOVED_RETRY_MS = [10, 50, 100, 200, 500];

export class RemoteAsks {
  readonly #pending = new Map<string, PendingAsk>();

  constructor(
    private readonly o: {
      readonly outbox: Outbox;
      readonly clock: Clock;
      readonly nodeId: string;
      readonly maxPending: number;
      /** Counts an ask that went out (not one refused as `overloaded`). */
      readonly onAsk?: () => void;
    },
  ) {}

  /** Asks waiting for their reply. */
  get size(): number {
    return this.#pending.size;
  }

  ask(type: string, id: string, cmd: unknown, timeoutMs: number): Promise<unknown> {
    if (this.#pending.size >= this.o.maxPending) {
      return Promise.reject(new AppError("overloaded", "Too many requests to other nodes"));
    }
    this.o.onAsk?.();
    const { clock, outbox } = this.o;
    const corr = crypto.randomUUID();
    const deadline = clock.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      const timer = clock.setTimeout(() => {
        if (this.#pending.delete(corr)) {
          reject(new AppError("timeout", `No reply from ${type} ${id} within ${timeoutMs} ms`));
        }
      }, timeoutMs);
      const value = JSON.stringify({
        k: "ask",
        corr,
        from: this.o.nodeId,
        type,
        id,
        cmd,
        deadline,
      });
      const send = () =>
        void outbox.send(TOPICS.commands, { key: id, value }).catch((err) => {
          const p = this.#pending.get(corr);
          if (!p) return;
          this.#pending.delete(corr);
          clock.clearTimeout(p.timer);
          p.reject(toAppError(err));
        });
      this.#pending.set(corr, { resolve, reject, timer, send, attempts: 0 });
      send();
    });
  }

  /** A record of `chat.replies` keyed to this node. */
  onReply(value: string): void {
    const m = ReplyRecord.parse(JSON.parse(value));
    const p = this.#pending.get(m.corr);
    if (!p) return; // timed out already
    if (!m.ok && m.moved) {
      // The command was not run: send it again once the partition has its new owner (the
      // ask's own timer still bounds the whole).
      const wait = MOVED_RETRY_MS[Math.min(p.attempts++, MOVED_RETRY_MS.length - 1)];
      this.o.clock.setTimeout(() => this.#pending.has(m.corr) && p.send(), wait);
      return;
    }
    this.#pending.delete(m.corr);
    this.o.clock.clearTimeout(p.timer);
    if (m.ok) p.resolve(m.reply);
    else {
      const code = (m.code in ERROR_CODES ? m.code : "internal") as ErrorCode;
      p.reject(new AppError(code, m.message));
    }
  }

  /** Fails every waiting ask with `err` (the node stops). */
  failAll(err: AppError): void {
    for (const p of this.#pending.values()) {
      this.o.clock.clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
  }
}
