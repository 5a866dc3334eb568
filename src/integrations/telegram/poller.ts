/**
 * Long polling (`getUpdates` with an offset), on the one node that holds the poller lease.
 * Updates are stored one by one, in order, and the offset moves past an update only after it is
 * stored, in a write fenced by the lease. A crash between the two redelivers that update on the
 * next start, and the inbound side recognises it, so no update is lost or stored twice.
 * Failures wait and retry: 429 for `retry_after` seconds, anything else with exponential backoff.
 */
import type { Logger } from "../../log.ts";
import type { Clock } from "../../runtime/clock.ts";
import { deadLetter, type TgKeys } from "./_kv.ts";
import { backoffMs, describe, isRetryable, sleep } from "./_retry.ts";
import { type TgUpdate, TgUpdateSchema } from "./_schema.ts";
import type { TelegramApi } from "./api.ts";
import type { KvLease } from "./lease.ts";

export interface PollerOptions {
  readonly api: Pick<TelegramApi, "getUpdates" | "deleteWebhook">;
  readonly kv: Deno.Kv;
  readonly keys: TgKeys;
  readonly clock: Clock;
  readonly log: Logger;
  readonly lease: KvLease;
  /** Stores one update; throws to have it retried (dead-lettered after `maxAttempts`). */
  readonly handle: (u: TgUpdate) => Promise<unknown>;
  /** Telegram's long-poll wait (`timeout` of getUpdates), seconds. */
  readonly pollTimeoutS: number;
  readonly retryBaseMs: number;
  /** Attempts to store one update before it goes to the dead letters. */
  readonly maxAttempts: number;
  /** How often a poller without the lease checks whether it became free. */
  readonly standbyMs: number;
  /** Told before every wait (logs at debug; tests wait on it instead of on time). */
  readonly onWait?: (w: { op: string; ms: number; error?: unknown }) => void;
}

/** The offset write found another holder of the lease. */
class LeaseLost extends Error {}

export class Poller {
  readonly #o: PollerOptions;
  readonly #ac = new AbortController();
  #done: Promise<void> = Promise.resolve();
  #webhookCleared = false;

  constructor(o: PollerOptions) {
    this.#o = o;
  }

  start(): void {
    this.#done = this.#run();
  }

  /** Stops polling, waits for the update in hand, and gives the lease up. */
  async stop(): Promise<void> {
    await this.halt();
    await this.#o.lease.release().catch(() => {});
  }

  /** Stops without giving the lease up, as a crash would (the lease then has to expire). */
  async halt(): Promise<void> {
    this.#ac.abort(new Error("poller stopped"));
    await this.#done;
  }

  get #signal(): AbortSignal {
    return this.#ac.signal;
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#signal.aborted) {
      try {
        if (!(await this.#o.lease.acquire())) {
          await this.#wait("standby", this.#o.standbyMs);
          continue;
        }
        await this.#clearWebhook();
        await this.#pollOnce();
        failures = 0;
      } catch (err) {
        if (this.#signal.aborted) break;
        if (err instanceof LeaseLost) {
          this.#o.log.info("telegram poller lease taken over; standing by");
          continue;
        }
        const ms = backoffMs(err, failures++, this.#o.retryBaseMs);
        this.#o.log.warn("telegram getUpdates failed", { err: describe(err), retry_ms: ms });
        await this.#wait("getUpdates", ms, err);
      }
    }
  }

  async #pollOnce(): Promise<void> {
    const { kv, keys } = this.#o;
    let offset = (await kv.get<number>(keys.offset)).value ?? 0;
    const raw = await this.#o.api.getUpdates(offset, this.#o.pollTimeoutS, this.#signal);
    for (const item of parseUpdates(raw, this.#o.log)) {
      if (item.id < offset) continue; // stored already: Telegram may repeat what it sent
      if (this.#signal.aborted) return;
      if (item.update) await this.#store(item.update);
      else await deadLetter(kv, keys.dead("in", item.id), { update: item.raw, error: "invalid" });
      const next = item.id + 1;
      const res = await this.#o.lease.fence(kv.atomic()).set(keys.offset, next).commit();
      if (!res.ok) throw new LeaseLost();
      offset = next;
    }
  }

  /** Stores one update, retrying failures; one that keeps failing goes to the dead letters. */
  async #store(u: TgUpdate): Promise<void> {
    for (let attempt = 0;; attempt++) {
      // Stopping leaves the update unstored and the offset where it was: the next start redelivers.
      if (this.#signal.aborted) throw this.#signal.reason;
      try {
        await this.#o.handle(u);
        return;
      } catch (err) {
        if (this.#signal.aborted) throw err;
        if (!isRetryable(err) || attempt + 1 >= this.#o.maxAttempts) {
          this.#o.log.error("telegram update not stored; dead-lettered", {
            update_id: u.update_id,
            error: describe(err),
          });
          const key = this.#o.keys.dead("in", u.update_id);
          await deadLetter(this.#o.kv, key, { update: u, error: describe(err) });
          return;
        }
        await this.#wait("store", backoffMs(err, attempt, this.#o.retryBaseMs), err);
      }
    }
  }

  /** Polling needs no webhook: Telegram refuses getUpdates (409) while one is set. */
  async #clearWebhook(): Promise<void> {
    if (this.#webhookCleared) return;
    await this.#o.api.deleteWebhook(this.#signal);
    this.#webhookCleared = true;
  }

  async #wait(op: string, ms: number, error?: unknown): Promise<void> {
    this.#o.onWait?.({ op, ms, ...(error === undefined ? {} : { error }) });
    if (op !== "standby") this.#o.log.debug("telegram poller waits", { op, ms });
    await sleep(this.#o.clock, ms, this.#signal);
  }
}

interface ParsedUpdate {
  readonly id: number;
  /** Absent when the update does not match the schema (it is dead-lettered and skipped). */
  readonly update?: TgUpdate;
  readonly raw: unknown;
}

/** getUpdates' result in update_id order; entries without an update_id cannot be addressed. */
function parseUpdates(raw: unknown, log: Logger): ParsedUpdate[] {
  const out: ParsedUpdate[] = [];
  for (const item of Array.isArray(raw) ? raw : []) {
    const id = (item as { update_id?: unknown })?.update_id;
    if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
      log.warn("telegram update without update_id ignored");
      continue;
    }
    const parsed = TgUpdateSchema.safeParse(item);
    out.push(parsed.success ? { id, update: parsed.data, raw: item } : { id, raw: item });
  }
  return out.sort((a, b) => a.id - b.id);
}
