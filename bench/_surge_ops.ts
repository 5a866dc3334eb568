/**
 * The operators of the surge benchmark (bench/surge.ts): WebSocket peers that count every frame
 * they receive (by kind and by one-second bucket, from the frame's type prefix alone, never parsed)
 * and send `accept_chat` frames whose `ack` or `error` they match by `ref`.
 */
import { ErrorLog, Peer, pool, staffWsUrl } from "./_peer.ts";
import type { Authenticator } from "../src/auth/mod.ts";

/** Frame types that make the queue view (the rest answer the operator's own actions). */
export const QUEUE_VIEW_TYPES = new Set([
  "new_chat_available",
  "chat_removed",
  "queue_delta",
  "queue_snapshot",
  "operator_status",
]);

export interface AcceptOutcome {
  ok: boolean;
  code?: string;
  ms: number;
}

/** One operator socket and what it received since `reset()`. */
export class SurgeOperator {
  frames = 0;
  bytes = 0;
  queueFrames = 0;
  queueBytes = 0;
  /** Queue-view frames per second since `t0` (index = whole seconds). */
  perSecond: number[] = [];
  readonly byType = new Map<string, number>();
  #t0 = performance.now();
  readonly #pending = new Map<string, (o: AcceptOutcome) => void>();
  #n = 0;

  constructor(readonly id: string, readonly peer: Peer) {
    peer.fast = (raw) => this.#onFrame(raw);
  }

  reset(t0: number): void {
    this.frames =
      this.bytes =
      this.queueFrames =
      this.queueBytes =
        0;
    this.perSecond = [];
    this.byType.clear();
    this.#t0 = t0;
  }

  #onFrame(raw: string): boolean {
    const type = raw.slice(9, raw.indexOf('"', 9));
    if (type === "ping") return false; // Peer answers the heartbeat
    this.frames++;
    this.bytes += raw.length;
    this.byType.set(type, (this.byType.get(type) ?? 0) + 1);
    if (QUEUE_VIEW_TYPES.has(type)) {
      this.queueFrames++;
      this.queueBytes += raw.length;
      const s = Math.floor((performance.now() - this.#t0) / 1000);
      if (s >= 0) this.perSecond[s] = (this.perSecond[s] ?? 0) + 1;
    }
    if ((type === "ack" || type === "error") && raw.includes('"ref":"acc-')) {
      const f = JSON.parse(raw) as { ref: string; payload: { code?: string } };
      const done = this.#pending.get(f.ref);
      this.#pending.delete(f.ref);
      done?.({ ok: type === "ack", ...(type === "error" ? { code: f.payload.code } : {}), ms: 0 });
    }
    return true;
  }

  /** Sends `accept_chat` and resolves with its outcome and round-trip time. */
  accept(chatId: string, timeoutMs = 30_000): Promise<AcceptOutcome> {
    const ref = `acc-${this.id}-${++this.#n}`;
    const t = performance.now();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(ref);
        resolve({ ok: false, code: "bench_timeout", ms: performance.now() - t });
      }, timeoutMs);
      this.#pending.set(ref, (o) => {
        clearTimeout(timer);
        resolve({ ...o, ms: performance.now() - t });
      });
      this.peer.send("accept_chat", { chat_id: chatId }, ref);
    });
  }
}

/** The WebSocket URL of a staff connection, optionally declaring the queue delta view. */
export function operatorUrl(baseUrl: string, token: string, delta: boolean): string {
  return staffWsUrl(baseUrl, token) + (delta ? "&features=queue_delta" : "");
}

/** Opens `n` operators `op-0` … with 32 connects at a time. */
export async function connectOperators(
  n: number,
  baseUrl: string,
  auth: Authenticator,
  delta: boolean,
  errors: ErrorLog,
  log: (msg: string) => void,
): Promise<SurgeOperator[]> {
  return await pool(n, 32, async (i) => {
    const id = `op-${i}`;
    const token = await auth.mintStaffToken({ sub: id, role: "operator", ttlSeconds: 3600 });
    const peer = await Peer.open(operatorUrl(baseUrl, token, delta), errors, "raw", 60_000);
    return new SurgeOperator(id, peer);
  }, (d) => log(`  ${d}/${n} operators`));
}

/**
 * Times fresh staff connects while the queue is full: from opening the socket to the end of its
 * `queue_snapshot`. Returns the times in ms, in order.
 */
export async function timeConnects(
  n: number,
  baseUrl: string,
  auth: Authenticator,
  delta: boolean,
  errors: ErrorLog,
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const token = await auth.mintStaffToken({
      sub: `probe-${i}`,
      role: "operator",
      ttlSeconds: 3600,
    });
    const t = performance.now();
    const url = operatorUrl(baseUrl, token, delta);
    const peer = await Peer.open(url, errors, "raw", 60_000, "queue_snapshot");
    out.push(performance.now() - t);
    peer.close();
  }
  return out;
}
