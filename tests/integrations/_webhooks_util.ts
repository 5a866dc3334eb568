/** Helpers for the webhook tests: an engine on a ManualClock, synthetic chat events, a recorder. */
import type { SessionEvent } from "../../actors/_session_types.ts";
import type { SessionView } from "../../actors/session.ts";
import { silentLogger } from "../../src/log.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import type { ChatEventNotice } from "../../src/server/chat_service.ts";
import type { LogReader } from "../../src/integrations/feed.ts";
import type { AttemptRecord } from "../../src/integrations/webhooks/dispatcher.ts";
import { WebhookService, type WebhookSettings } from "../../src/integrations/webhooks/service.ts";

export const SETTINGS: WebhookSettings = {
  maxAttempts: 4,
  backoffMs: 1_000,
  backoffMaxMs: 8_000,
  timeoutMs: 5_000,
  concurrency: 4,
  maxPending: 100,
  deadLetterTtlMs: 3_600_000,
  // Jitter at its top: each delay is exactly base · 2^(n−1), so tests can step to it.
  random: () => 1,
};

/** Every try's result, with waits on the one a test expects. */
export class Recorder {
  readonly records: AttemptRecord[] = [];
  #waiters: Array<{ test: (r: AttemptRecord) => boolean; resolve: (r: AttemptRecord) => void }> =
    [];

  /** Records the tries of one engine, or of every node's engine in a cluster. */
  constructor(...engines: WebhookService[]) {
    for (const wh of engines) {
      wh.onAttempt((r) => {
        this.records.push(r);
        this.#waiters = this.#waiters.filter((w) => !(w.test(r) && (w.resolve(r), true)));
      });
    }
  }

  /** The first record from index `from` on matching `test` (the timeout is only a guard). */
  next(test: (r: AttemptRecord) => boolean, from = 0): Promise<AttemptRecord> {
    const found = this.records.slice(from).find(test);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = { test, resolve: (r: AttemptRecord) => (clearTimeout(timer), resolve(r)) };
      this.#waiters.push(w);
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        reject(new Error(`No such attempt; got ${JSON.stringify(this.records)}`));
      }, 10_000);
    });
  }

  result(result: AttemptRecord["result"], from = 0) {
    return this.next((r) => r.result === result, from);
  }

  count(result: AttemptRecord["result"]): number {
    return this.records.filter((r) => r.result === result).length;
  }

  /**
   * Resolves once every event published so far is stored and the (shared) outbox is empty again.
   * Pass every engine this recorder watches: in a cluster any node may settle a delivery.
   */
  async drained(...engines: WebhookService[]): Promise<void> {
    for (const wh of engines) await wh.flushed();
    while (true) {
      const from = this.records.length;
      if (await engines[0].store.pendingCount() === 0) return;
      await this.next(() => true, from);
    }
  }

  /** Resolves once `n` tries have ended with `result`. */
  async reach(result: AttemptRecord["result"], n: number): Promise<void> {
    if (this.count(result) >= n) return;
    await this.next(() => this.count(result) >= n);
  }
}

export interface Engine {
  readonly wh: WebhookService;
  readonly kv: Deno.Kv;
  readonly clock: ManualClock;
  readonly rec: Recorder;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A started engine on `kv` (default: a fresh in-memory KV, closed on dispose). */
export async function engine(
  settings: Partial<WebhookSettings> = {},
  opts: { kv?: Deno.Kv; clock?: ManualClock; readLog?: LogReader } = {},
): Promise<Engine> {
  const kv = opts.kv ?? await Deno.openKv(":memory:");
  const clock = opts.clock ?? new ManualClock();
  const readLog = opts.readLog ?? (() => Promise.resolve([]));
  const wh = new WebhookService(kv, clock, silentLogger, { ...SETTINGS, ...settings }, readLog);
  const rec = new Recorder(wh);
  await wh.start();
  return {
    wh,
    kv,
    clock,
    rec,
    async [Symbol.asyncDispose]() {
      await wh.stop();
      if (!opts.kv) kv.close();
    },
  };
}

/** A stored chat event as `ChatService.onChatEvent` hands it over. */
export function notice(chatId: string, seq: number, event: SessionEvent): ChatEventNotice {
  const at = "at" in event ? event.at : Date.UTC(2026, 0, 1);
  return { chatId, seq, at, event, view: {} as SessionView };
}

export function message(text: string, at = Date.UTC(2026, 0, 1)): SessionEvent {
  return { type: "message", senderId: "client-1", senderRole: "client", text, at };
}
