/**
 * Partition ownership in the shared KV, and the node registry.
 *
 * `["cluster", "owner", p]` holds `{node, name, epoch, at}`. A node that is given partition `p`
 * bumps the epoch in one atomic and keeps the record's versionstamp; every later write of an actor
 * in `p` checks that versionstamp inside its own atomic. Once another node bumps the epoch, a
 * paused or partitioned old owner can no longer write anything for `p`: its atomics fail.
 *
 * Hand-over: an owner that loses `p` lets its actors finish and snapshot, then marks the record
 * `released` (same epoch, checked against its versionstamp). A new owner bumps the epoch only once
 * the record is released, or its owner is dead (heartbeat older than `deadAfterMs`), or it has
 * waited `boundMs` (`handOverState`); so the old owner's last writes are never fenced by a move.
 * Heartbeats carry the writer's clock: nodes' clocks must agree to well within `deadAfterMs`.
 *
 * `["cluster", "node", id]` is each node's heartbeat, written with an expiry; the live nodes are
 * the ones whose record has not expired.
 */
import { type KvCheck, retryWhileLocked } from "../runtime/committer.ts";
import type { Clock, TimerId } from "../runtime/clock.ts";
import type { Logger } from "../log.ts";

export interface OwnerRecord {
  readonly node: string;
  readonly name: string;
  readonly epoch: number;
  readonly at: number;
  /** Set by the owner once it has handed the partition over (its actors snapshotted). */
  readonly released?: boolean;
  readonly releasedAt?: number;
}

/** Why a new owner may take a partition now, or that it must wait. */
export type HandOver =
  | "free" // never owned
  | "self" // this node owns it already
  | "released" // the old owner handed it over
  | "dead" // the old owner's heartbeat is stale or gone
  | "bound" // waited as long as allowed
  | "wait"; // the old owner is alive and still hands over

export interface NodeRecord {
  readonly node: string;
  readonly name: string;
  readonly url: string;
  readonly startedAt: number;
  readonly at: number;
}

export const ownerKey = (p: number): Deno.KvKey => ["cluster", "owner", p];
const nodeKey = (node: string): Deno.KvKey => ["cluster", "node", node];

/** A versionstamp no record has: the check of an unowned partition always fails. */
const NEVER = "ffffffffffffffffffff";

export class Ownership {
  readonly #kv: Deno.Kv;
  readonly #node: string;
  readonly #name: string;
  readonly #owned = new Map<number, { epoch: number; versionstamp: string }>();

  constructor(kv: Deno.Kv, node: string, name: string) {
    this.#kv = kv;
    this.#node = node;
    this.#name = name;
  }

  owns(p: number): boolean {
    return this.#owned.has(p);
  }

  get owned(): number[] {
    return [...this.#owned.keys()].sort((a, b) => a - b);
  }

  epochOf(p: number): number | undefined {
    return this.#owned.get(p)?.epoch;
  }

  /** Takes partition `p`: bumps its epoch, which fences every earlier owner. */
  async claim(p: number, now: number): Promise<number> {
    for (;;) {
      const cur = await this.#kv.get<OwnerRecord>(ownerKey(p));
      const epoch = (cur.value?.epoch ?? 0) + 1;
      const rec: OwnerRecord = { node: this.#node, name: this.#name, epoch, at: now };
      const res = await retryWhileLocked(() =>
        this.#kv.atomic().check(cur).set(ownerKey(p), rec).commit()
      );
      if (res.ok) {
        this.#owned.set(p, { epoch, versionstamp: res.versionstamp });
        return epoch;
      }
    }
  }

  /** Forgets `p` here; the record stays until the next owner bumps it. */
  drop(p: number): void {
    this.#owned.delete(p);
  }

  /**
   * Marks `p` handed over (after its actors' last writes), unless another node has claimed it
   * meanwhile. The partition stays in `owned` (its fence now fails) until `drop`.
   */
  async release(p: number, now: number): Promise<boolean> {
    const own = this.#owned.get(p);
    if (!own) return false;
    const cur = await this.#kv.get<OwnerRecord>(ownerKey(p));
    if (cur.versionstamp !== own.versionstamp || !cur.value) return false;
    const rec: OwnerRecord = { ...cur.value, released: true, releasedAt: now };
    const res = await retryWhileLocked(() =>
      this.#kv.atomic().check(cur).set(ownerKey(p), rec).commit()
    );
    return res.ok;
  }

  /**
   * Whether this node may claim `p` now (see the file doc): reads the owner record and, when
   * another live-looking node holds it, that node's heartbeat. `waitedMs` is how long the caller
   * has waited so far; `deadAfterMs` how old a heartbeat may be before its node counts as dead.
   */
  async handOverState(
    p: number,
    now: number,
    waitedMs: number,
    limits: { readonly boundMs: number; readonly deadAfterMs: number },
  ): Promise<{ state: HandOver; owner: OwnerRecord | null }> {
    const cur = (await this.#kv.get<OwnerRecord>(ownerKey(p))).value;
    if (!cur) return { state: "free", owner: null };
    if (cur.node === this.#node) return { state: "self", owner: cur };
    if (cur.released) return { state: "released", owner: cur };
    const beat = (await this.#kv.get<NodeRecord>(nodeKey(cur.node))).value;
    if (!beat || now - beat.at > limits.deadAfterMs) return { state: "dead", owner: cur };
    if (waitedMs >= limits.boundMs) return { state: "bound", owner: cur };
    return { state: "wait", owner: cur };
  }

  /** The check every write of an actor in `p` carries. */
  fence(p: number): KvCheck[] {
    const own = this.#owned.get(p);
    return [{ key: ownerKey(p), versionstamp: own?.versionstamp ?? NEVER }];
  }

  /** Partitions this node believes it owns but whose record names another node now. */
  async lost(): Promise<number[]> {
    const out: number[] = [];
    for (const [p, own] of this.#owned) {
      const cur = await this.#kv.get<OwnerRecord>(ownerKey(p));
      if (cur.versionstamp !== own.versionstamp) out.push(p);
    }
    return out;
  }
}

/** Every partition's owner record, for ops (`deno task ops cluster`). */
export async function listOwners(kv: Deno.Kv): Promise<Array<OwnerRecord & { partition: number }>> {
  const out: Array<OwnerRecord & { partition: number }> = [];
  for await (const e of kv.list<OwnerRecord>({ prefix: ["cluster", "owner"] })) {
    out.push({ ...e.value, partition: e.key[2] as number });
  }
  return out;
}

export async function listNodes(kv: Deno.Kv): Promise<NodeRecord[]> {
  const out: NodeRecord[] = [];
  for await (const e of kv.list<NodeRecord>({ prefix: ["cluster", "node"] })) out.push(e.value);
  return out;
}

/** Writes this node's heartbeat every `everyMs` (expiring after 3 of them) and caches live nodes. */
export class NodeRegistry {
  readonly #kv: Deno.Kv;
  readonly #clock: Clock;
  readonly #self: Omit<NodeRecord, "at">;
  readonly #everyMs: number;
  readonly #log: Logger;
  #live: string[];
  /** Nodes seen alive once and gone since (most recent last, bounded). */
  #dead: string[] = [];
  #seen = new Set<string>();
  #beating: Promise<void> | null = null;
  #timer: TimerId | null = null;
  #stopped = false;

  constructor(
    o: { kv: Deno.Kv; clock: Clock; self: Omit<NodeRecord, "at">; everyMs: number; log: Logger },
  ) {
    this.#kv = o.kv;
    this.#clock = o.clock;
    this.#self = o.self;
    this.#everyMs = o.everyMs;
    this.#log = o.log;
    this.#live = [o.self.node];
  }

  /** Node ids alive at the last beat (this one always). */
  get live(): string[] {
    return this.#live;
  }

  /** Node ids seen alive before and dead (heartbeat expired) since. */
  get dead(): string[] {
    return this.#dead;
  }

  async start(): Promise<void> {
    await this.beat();
  }

  /** Writes the heartbeat and refreshes the live list now (also on every rebalance). */
  beat(): Promise<void> {
    this.#beating ??= this.#beat().finally(() => this.#beating = null);
    return this.#beating;
  }

  async #beat(): Promise<void> {
    if (this.#stopped) return;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
    try {
      // A write that meets another process's lock on the KV file waits its turn, and `at` is
      // the time of the attempt that lands (a new owner reads a stale `at` as a dead node).
      await retryWhileLocked(() =>
        this.#kv.set(nodeKey(this.#self.node), { ...this.#self, at: this.#clock.now() }, {
          expireIn: this.#everyMs * 3,
        })
      );
      const now = this.#clock.now();
      const nodes = await listNodes(this.#kv);
      const live = nodes.filter((n) => now - n.at < this.#everyMs * 3).map((n) => n.node);
      if (!live.includes(this.#self.node)) live.push(this.#self.node);
      this.#live = live;
      for (const id of this.#seen) {
        if (!live.includes(id) && !this.#dead.includes(id)) this.#dead.push(id);
      }
      if (this.#dead.length > 256) this.#dead = this.#dead.slice(-256);
      this.#seen = new Set(live);
    } catch (err) {
      this.#log.warn("node heartbeat failed", { err });
    }
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimeout(() => void this.beat(), this.#everyMs);
  }

  /** Stops beating; `leave` also removes the record at once (graceful shutdown). */
  async stop(leave: boolean): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    if (leave) await this.#kv.delete(nodeKey(this.#self.node)).catch(() => {});
  }
}
