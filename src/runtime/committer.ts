/**
 * Group commit: actors hand in their writes; the committer packs whatever is pending into as
 * few Deno KV atomics as the limits allow and resolves each request once its atomic is durable.
 */
import { AppError } from "../errors.ts";

export type KvMutation =
  | { readonly op: "set"; readonly key: Deno.KvKey; readonly value: unknown; readonly size: number }
  | { readonly op: "sum"; readonly key: Deno.KvKey; readonly n: bigint; readonly size: number }
  | { readonly op: "max"; readonly key: Deno.KvKey; readonly n: bigint; readonly size: number }
  | { readonly op: "delete"; readonly key: Deno.KvKey; readonly size: number };

/** The cause of an `unavailable` error whose atomic failed a KV check (a fenced, stale owner). */
export const FENCED = Symbol("fenced");

/** True when `err` is the refusal of a write whose fencing check failed. */
export function isFenced(err: unknown): boolean {
  return err instanceof AppError && err.cause === FENCED;
}

/** Backoff (ms) when another process holds the KV file's write lock ("database is locked"). */
const LOCKED_RETRY_MS = [2, 5, 10, 20, 50, 100, 200, 250];

/**
 * How long a write waits for the KV file's lock before it fails (`KV_LOCK_WAIT_MS`): longer than
 * another node's longest write or a backup's copy, shorter than a request's patience. Only a
 * lock held this long becomes an error a user sees.
 */
export const DEFAULT_LOCK_WAIT_MS = 4_000;

/**
 * Runs a KV write, retrying while another process (or handle) holds the SQLite file's lock, as
 * happens when several nodes share one KV file. A write refused that way did not happen. The wait
 * is on real time (it is about another process) and bounded by `patienceMs`.
 */
export async function retryWhileLocked<T>(
  write: () => Promise<T>,
  patienceMs = DEFAULT_LOCK_WAIT_MS,
): Promise<T> {
  let waited = 0;
  for (let attempt = 0;; attempt++) {
    try {
      return await write();
    } catch (err) {
      const locked = err instanceof Error && /database is locked/i.test(err.message);
      const base = LOCKED_RETRY_MS[Math.min(attempt, LOCKED_RETRY_MS.length - 1)];
      const delay = base * (0.5 + Math.random() / 2); // writers that met the lock together spread
      if (!locked || waited + delay > patienceMs) throw err;
      waited += delay;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export interface KvCheck {
  readonly key: Deno.KvKey;
  readonly versionstamp: string | null;
}

/** Deno KV's limits, with margin. */
export const KV_LIMITS = {
  mutations: 1000,
  checks: 100,
  /** Total bytes of keys and values in one atomic (KV allows 800 KiB). */
  bytes: 700 * 1024,
  /** One value (KV allows 64 KiB). */
  valueBytes: 60 * 1024,
  /**
   * Encoded keys of one atomic's mutations and checks together (KV allows 80 KiB). A thousand
   * event keys with a client's message id in the durable idempotency index pass it, so a full
   * batch is cut by key bytes as well as by count.
   */
  keyBytes: 64 * 1024,
} as const;

/** UTF-8 bytes of a string plus its 0 bytes (escaped as two), without encoding it. */
function encodedLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0) n++;
    } else if (c < 0x800) n++;
    else if (c >= 0xd800 && c <= 0xdbff) i++, n += 2; // a surrogate pair: 4 bytes for 2 units
    else n += 2;
  }
  return n;
}

/**
 * Bytes of a key as Deno KV encodes it (the tuple encoding: a type byte per part; strings and
 * byte arrays end with a 0 byte and have each 0 byte escaped; numbers are 8 bytes). Exact for
 * strings, numbers and booleans; an upper bound for bigints.
 */
export function kvKeyBytes(key: Deno.KvKey): number {
  let n = 0;
  for (const part of key) {
    if (typeof part === "string") n += 2 + encodedLength(part);
    else if (part instanceof Uint8Array) {
      let zeros = 0;
      for (const b of part) if (b === 0) zeros++;
      n += 2 + part.length + zeros;
    } else if (typeof part === "number") n += 9;
    else if (typeof part === "bigint") n += 2 + 9 + Math.ceil(part.toString(16).length / 2);
    else n += 1;
  }
  return n;
}

interface Request {
  mutations: readonly KvMutation[];
  checks: readonly KvCheck[];
  bytes: number;
  keyBytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface CommitterStats {
  commits: number;
  requests: number;
  mutations: number;
  failures: number;
  latencySumMs: number;
  latencyBuckets: number[];
}

/** Upper bounds (ms) of the commit-latency histogram buckets. */
export const LATENCY_BUCKETS_MS = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000];

export class GroupCommitter {
  readonly #kv: Deno.Kv;
  readonly #maxInFlight: number;
  #pending: Request[] = [];
  #inFlight = 0;
  #idle: Array<() => void> = [];
  readonly stats: CommitterStats = {
    commits: 0,
    requests: 0,
    mutations: 0,
    failures: 0,
    latencySumMs: 0,
    latencyBuckets: LATENCY_BUCKETS_MS.map(() => 0),
  };

  readonly #lockWaitMs: number;
  /** Told of every committed atomic: its latency (ms) and mutation count (the metrics). */
  onCommit: ((ms: number, mutations: number) => void) | null = null;

  constructor(kv: Deno.Kv, maxInFlight = 2, lockWaitMs = DEFAULT_LOCK_WAIT_MS) {
    this.#kv = kv;
    this.#maxInFlight = maxInFlight;
    this.#lockWaitMs = lockWaitMs;
  }

  /** Resolves once all `mutations` are durable, in one atomic; rejects if that atomic fails. */
  commit(mutations: readonly KvMutation[], checks: readonly KvCheck[] = []): Promise<void> {
    const bytes = mutations.reduce((n, m) => n + m.size, 0);
    const keyBytes = mutations.reduce((n, m) => n + kvKeyBytes(m.key), 0) +
      checks.reduce((n, c) => n + kvKeyBytes(c.key), 0);
    if (
      mutations.length > KV_LIMITS.mutations || checks.length > KV_LIMITS.checks ||
      bytes > KV_LIMITS.bytes || keyBytes > KV_LIMITS.keyBytes
    ) {
      return Promise.reject(new AppError("internal", "Write is larger than one KV atomic allows"));
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ mutations, checks, bytes, keyBytes, resolve, reject });
      this.#pump();
    });
  }

  /** Resolves when nothing is pending or in flight. */
  flushed(): Promise<void> {
    if (this.#pending.length === 0 && this.#inFlight === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#pending.length > 0) {
      const batch = this.#takeBatch();
      this.#inFlight++;
      this.#run(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
        if (this.#pending.length === 0 && this.#inFlight === 0) {
          for (const r of this.#idle.splice(0)) r();
        }
      });
    }
  }

  #takeBatch(): Request[] {
    const batch: Request[] = [];
    let mutations = 0, checks = 0, bytes = 0, keyBytes = 0;
    while (this.#pending.length > 0) {
      const next = this.#pending[0];
      if (
        batch.length > 0 && (mutations + next.mutations.length > KV_LIMITS.mutations ||
          checks + next.checks.length > KV_LIMITS.checks || bytes + next.bytes > KV_LIMITS.bytes ||
          keyBytes + next.keyBytes > KV_LIMITS.keyBytes)
      ) break;
      batch.push(this.#pending.shift()!);
      mutations += next.mutations.length;
      checks += next.checks.length;
      bytes += next.bytes;
      keyBytes += next.keyBytes;
    }
    return batch;
  }

  async #run(batch: Request[]): Promise<void> {
    const started = performance.now();
    const mutationCount = batch.reduce((n, req) => n + req.mutations.length, 0);
    let result: Deno.KvCommitResult | Deno.KvCommitError;
    try {
      result = await retryWhileLocked(() => this.#atomic(batch).commit(), this.#lockWaitMs);
    } catch (err) {
      this.stats.failures++;
      for (const req of batch) {
        req.reject(new AppError("unavailable", "Storage write failed", { cause: err }));
      }
      return;
    }
    const ms = performance.now() - started;
    this.#record(ms, batch.length, mutationCount);
    if (!result.ok) {
      if (batch.length > 1) {
        // One request's check failed and took the others down; nothing was written, so each
        // goes again alone and only the fenced ones fail.
        await Promise.all(batch.map((req) => this.#run([req])));
        return;
      }
      this.stats.failures++;
      batch[0].reject(
        new AppError(
          "unavailable",
          "Storage write was fenced: this node no longer owns the actor",
          {
            cause: FENCED,
          },
        ),
      );
      return;
    }
    for (const req of batch) req.resolve();
  }

  /** One atomic of the batch's checks (each key once) and mutations. */
  #atomic(batch: readonly Request[]): Deno.AtomicOperation {
    const atomic = this.#kv.atomic();
    const seen = new Set<string>();
    for (const req of batch) {
      for (const c of req.checks) {
        const k = JSON.stringify(c.key);
        if (seen.has(k)) continue;
        seen.add(k);
        atomic.check(c);
      }
      for (const m of req.mutations) {
        if (m.op === "set") atomic.set(m.key, m.value);
        else if (m.op === "sum") atomic.sum(m.key, m.n);
        else if (m.op === "max") atomic.max(m.key, m.n);
        else atomic.delete(m.key);
      }
    }
    return atomic;
  }

  #record(ms: number, requests: number, mutations: number): void {
    const s = this.stats;
    s.commits++;
    s.requests += requests;
    s.mutations += mutations;
    s.latencySumMs += ms;
    const i = LATENCY_BUCKETS_MS.findIndex((b) => ms <= b);
    if (i >= 0) s.latencyBuckets[i]++;
    this.onCommit?.(ms, mutations);
  }
}
