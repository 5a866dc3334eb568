/** Helpers for the Telegram tests: a poller wired to a fake Bot API, and KV condition waits. */
import { silentLogger } from "../../src/log.ts";
import { tgKeys } from "../../src/integrations/telegram/_kv.ts";
import type { TgUpdate } from "../../src/integrations/telegram/_schema.ts";
import { TelegramApi } from "../../src/integrations/telegram/api.ts";
import { KvLease } from "../../src/integrations/telegram/lease.ts";
import { Poller, type PollerOptions } from "../../src/integrations/telegram/poller.ts";
import type { ManualClock } from "../../src/runtime/clock.ts";
import type { FakeTelegram } from "./_fake_telegram.ts";

export const KEYS = tgKeys("test");

export interface Wait {
  op: string;
  ms: number;
  error?: unknown;
}

/** Collects the waits a component announces; a test takes them one by one, in order. */
export class Waits {
  readonly seen: Wait[] = [];
  #taken = 0;
  #wake: Array<() => void> = [];
  readonly hook = (w: Wait): void => {
    this.seen.push(w);
    for (const wake of this.#wake.splice(0)) wake();
  };
  /** The next wait of kind `op` not taken yet (earlier waits of other kinds are skipped). */
  async next(op: string): Promise<Wait> {
    while (true) {
      const i = this.seen.findIndex((w, i) => i >= this.#taken && w.op === op);
      if (i >= 0) {
        this.#taken = i + 1;
        return this.seen[i];
      }
      await new Promise<void>((r) => this.#wake.push(r));
    }
  }
}

export interface PollerRig {
  poller: Poller;
  lease: KvLease;
  waits: Waits;
  handled: TgUpdate[];
}

/** A poller on `fake` with a recording `handle` (override it to fail or block). */
export function rigPoller(
  fake: FakeTelegram,
  kv: Deno.Kv,
  clock: ManualClock,
  o: Partial<PollerOptions> & { holder?: string; httpTimeoutMs?: number; leaseMs?: number } = {},
): PollerRig {
  const waits = new Waits();
  const handled: TgUpdate[] = [];
  const lease = new KvLease(kv, KEYS.lease, o.holder ?? "node-a", o.leaseMs ?? 60_000, clock);
  const api = new TelegramApi({
    baseUrl: fake.url,
    token: "test",
    timeoutMs: o.httpTimeoutMs ?? 5000,
    clock,
  });
  const poller = new Poller({
    api,
    kv,
    keys: KEYS,
    clock,
    log: silentLogger,
    lease,
    handle: (u) => (handled.push(u), Promise.resolve()),
    pollTimeoutS: 1,
    retryBaseMs: 1000,
    maxAttempts: 5,
    standbyMs: 5000,
    onWait: waits.hook,
    ...o,
  });
  return { poller, lease, waits, handled };
}

/** Resolves once the value at `key` passes `test` (watching KV, not polling on time). */
export async function untilKv<T>(
  kv: Deno.Kv,
  key: Deno.KvKey,
  test: (v: T | null) => boolean,
): Promise<T | null> {
  const reader = kv.watch<[T]>([key]).getReader();
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) throw new Error("KV watch ended");
      if (test(value[0].value)) return value[0].value;
    }
  } finally {
    await reader.cancel();
  }
}
