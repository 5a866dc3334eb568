/**
 * One node of a cluster (docs/CLUSTER.md). It owns the partitions of `chat.commands` that its
 * consumer-group membership gives it, and hosts the actors of those partitions. `ask`/`tell` for
 * an actor owned elsewhere go through `chat.commands` (keyed by the actor key) and come back on
 * `chat.replies`; the hub operations of every commit go out on `chat.events`, so each node serves
 * the connections it holds. Ownership is fenced in KV by a per-partition epoch.
 */
import { z } from "zod";
import { AppError, toAppError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Clock } from "../runtime/clock.ts";
import type { KvCheck } from "../runtime/committer.ts";
import type { ActorAddress, AnyEntity, CommandOf, ReplyOf } from "../runtime/entity.ts";
import type { ActorRouter, ActorSystem, AskOptions } from "../runtime/system.ts";
import type { HubOp } from "../server/hub_ops.ts";
import type { Broker, Consumer, InRecord, TopicPartition } from "./broker.ts";
import { AuditFeed } from "./audit_feed.ts";
import { Outbox } from "./outbox.ts";
import { RemoteAsks } from "./_remote_asks.ts";
import { NodeRegistry, Ownership } from "./ownership.ts";
import { OWNER_GROUP, partitionOf, TOPICS } from "./topics.ts";

export interface ClusterNodeOptions {
  readonly broker: Broker;
  readonly kv: Deno.Kv;
  readonly clock: Clock;
  readonly log: Logger;
  /** Unique per process start (also the boot id operators' connections are counted under). */
  readonly nodeId: string;
  /** Human name for logs and ops (e.g. the host name). */
  readonly name: string;
  readonly url: string;
  readonly askTimeoutMs: number;
  readonly heartbeatMs: number;
  /** Remote asks waiting for a reply before new ones get `overloaded`. */
  readonly maxPendingAsks?: number;
  /** Records waiting to be produced before senders get `overloaded`. */
  readonly maxOutbox?: number;
  /** How often the audit feed's publisher looks for new audit records (ms). */
  readonly auditFeedMs?: number;
  /** A consumer stopped for good (see `ConsumeOptions.onFatal`); the node is `failed` from then. */
  readonly onFatal?: (error: Error) => void;
}

/** How far before its cursor the audit feed looks again for records committed late (ms). */
const AUDIT_LOOKBACK_MS = 10_000;

/** What the node needs from the server once it is built. */
export interface ClusterApp {
  readonly system: ActorSystem;
  applyOps(ops: readonly HubOp[]): void;
  /** The queue's name; assignment changes ask it to check who is still connected. */
  readonly queue: string;
}

const CommandRecord = z.discriminatedUnion("k", [
  z.object({
    k: z.literal("ask"),
    corr: z.string(),
    from: z.string(),
    type: z.string(),
    id: z.string(),
    cmd: z.unknown(),
    deadline: z.number(),
  }),
  z.object({ k: z.literal("tell"), type: z.string(), id: z.string(), cmd: z.unknown() }),
]);
const EventsRecord = z.object({
  from: z.string(),
  ops: z.array(z.looseObject({ op: z.string() })),
});

/** The answer to a command for an actor this node is handing over (the asker sends it again). */
const MOVED = new AppError("unavailable", "Actor is moving to another node; retry");

export class ClusterNode implements ActorRouter {
  readonly ownership: Ownership;
  readonly registry: NodeRegistry;
  readonly partitions: number;
  /** Audit records to `chat.audit`, published by the owner of partition 0. */
  readonly auditFeed: AuditFeed;
  readonly #o: ClusterNodeOptions;
  readonly #outbox: Outbox;
  readonly #asks: RemoteAsks;
  /** Partitions being handed over: still fenced as ours, but no longer routed here. */
  readonly #releasing = new Set<number>();
  #app: ClusterApp | null = null;
  #owners: Consumer | null = null;
  #listener: Consumer | null = null;
  #stopped = false;
  #failed: Error | null = null;
  #dropping: Promise<void> = Promise.resolve();
  /** Assignment, revocation and fencing changes run one after the other, in this chain. */
  #membership: Promise<void> = Promise.resolve();
  readonly counters = { remoteAsks: 0, remoteTells: 0, served: 0, fenced: 0, moves: 0 };

  constructor(o: ClusterNodeOptions) {
    this.#o = o;
    this.partitions = o.broker.partitions(TOPICS.commands);
    this.ownership = new Ownership(o.kv, o.nodeId, o.name);
    this.registry = new NodeRegistry({
      kv: o.kv,
      clock: o.clock,
      self: { node: o.nodeId, name: o.name, url: o.url, startedAt: o.clock.now() },
      everyMs: o.heartbeatMs,
      log: o.log,
    });
    this.#outbox = new Outbox(o.broker, o.maxOutbox ?? 20_000, o.log);
    this.#asks = new RemoteAsks({
      outbox: this.#outbox,
      clock: o.clock,
      nodeId: o.nodeId,
      maxPending: o.maxPendingAsks ?? 10_000,
      onAsk: () => this.counters.remoteAsks++,
    });
    this.auditFeed = new AuditFeed({
      kv: o.kv,
      clock: o.clock,
      log: o.log,
      produce: (records) => o.broker.produce(TOPICS.audit, records),
      fence: () => (this.#isLocalPartition(0) ? this.ownership.fence(0) : null),
      everyMs: o.auditFeedMs ?? 1000,
      lookbackMs: AUDIT_LOOKBACK_MS,
    });
  }

  get nodeId(): string {
    return this.#o.nodeId;
  }

  /** The two group memberships (tests and diagnostics). */
  get consumers(): { owners: Consumer | null; listener: Consumer | null } {
    return { owners: this.#owners, listener: this.#listener };
  }

  /** Why this node can no longer do its part (a consumer stopped for good), or null. */
  get failed(): Error | null {
    return this.#failed;
  }

  /** Settles once partitions found lost after a fenced write have been dropped here. */
  get dropping(): Promise<void> {
    return this.#dropping;
  }

  // ---- hooks for the actor system ----

  /** The KV checks every write of `address` carries: this node's epoch of its partition. */
  fence = (address: ActorAddress): readonly KvCheck[] =>
    this.ownership.fence(partitionOf(address, this.partitions));

  /** Effect tells to actors owned elsewhere go to their owner; returns true when it took one. */
  forward = (to: ActorAddress, command: unknown): boolean => {
    if (this.#isLocal(to)) return false;
    this.#tellRemote(to.type, to.id, command).catch((err) =>
      this.#o.log.error("forwarding a tell failed", { ...to, err })
    );
    return true;
  };

  /** A write was fenced: another node took partitions from us while we were not looking. */
  onFenced = (address: ActorAddress): void => {
    this.counters.fenced++;
    const p = partitionOf(address, this.partitions);
    this.#o.log.warn("write fenced", {
      node: this.#o.name,
      partition: p,
      epoch: this.ownership.epochOf(p),
      ...address,
    });
    // Stop routing here at once; confirm against KV and hand over what is really lost.
    this.#releasing.add(p);
    this.#dropping = this.#dropping.then(() => this.#dropLost(p)).catch((err) =>
      this.#o.log.error("dropping fenced partitions failed", { err })
    );
  };

  // ---- routing ----

  ask<T extends AnyEntity>(
    entity: T,
    id: string,
    command: CommandOf<T>,
    opts?: AskOptions,
  ): Promise<ReplyOf<T>> {
    return this.askType(entity.type, id, command, opts) as Promise<ReplyOf<T>>;
  }

  askType(
    type: string,
    id: string,
    command: unknown,
    opts: AskOptions = {},
  ): Promise<unknown> {
    const app = this.#app;
    if (!app) return Promise.reject(new AppError("unavailable", "Cluster node is not started"));
    if (this.#isLocal({ type, id })) return app.system.askType(type, id, command, opts);
    return this.#asks.ask(type, id, command, opts.timeoutMs ?? this.#o.askTimeoutMs);
  }

  tellType(type: string, id: string, command: unknown): void {
    const app = this.#app;
    if (!app) throw new AppError("unavailable", "Cluster node is not started");
    if (this.#isLocal({ type, id })) return app.system.tellType(type, id, command);
    this.#tellRemote(type, id, command).catch((err) =>
      this.#o.log.error("remote tell failed", { type, id, err })
    );
  }

  /**
   * Publishes a commit's hub operations to every other node, keyed by the actor that committed
   * (chat id, or the queue name), so one actor's operations stay in order on one partition.
   */
  fanout = (ops: HubOp[], key: string): void => {
    this.#outbox.send(TOPICS.events, {
      key,
      value: JSON.stringify({ from: this.#o.nodeId, ops }),
    }).catch((err) => this.#o.log.error("publishing hub operations failed", { key, err }));
  };

  #isLocal(address: ActorAddress): boolean {
    return this.#isLocalPartition(partitionOf(address, this.partitions));
  }

  #isLocalPartition(p: number): boolean {
    return this.ownership.owns(p) && !this.#releasing.has(p);
  }

  #tellRemote(type: string, id: string, cmd: unknown): Promise<void> {
    this.counters.remoteTells++;
    return this.#outbox.send(TOPICS.commands, {
      key: id,
      value: JSON.stringify({ k: "tell", type, id, cmd }),
    });
  }

  // ---- consuming ----

  async start(app: ClusterApp): Promise<void> {
    this.#app = app;
    await this.registry.start();
    // Replies and other nodes' hub operations: every node reads all of them (its own group).
    this.#listener = await this.#o.broker.consume({
      groupId: `chat-node-${this.#o.nodeId}`,
      topics: [TOPICS.replies, TOPICS.events],
      fromBeginning: false,
      onMessage: (r) => this.#onNodeRecord(r),
      onFatal: (err) => this.#fatal("replies and events", err),
    });
    // Commands: the owners' group; its assignment is this node's share of the actors.
    this.#owners = await this.#o.broker.consume({
      groupId: OWNER_GROUP,
      topics: [TOPICS.commands],
      fromBeginning: true,
      onAssign: (ps) => this.#serially(() => this.#onAssign(ps)),
      onRevoke: (ps) => this.#serially(() => this.#onRevoke(ps)),
      onMessage: (r) => this.#onCommand(r),
      onFatal: (err) => this.#fatal("commands", err),
    });
    this.auditFeed.start();
    this.#o.log.info("cluster node joined", {
      node: this.#o.nodeId,
      name: this.#o.name,
      owns: this.ownership.owned.join(","),
    });
  }

  #fatal(what: string, err: Error): void {
    if (this.#stopped || this.#failed) return;
    this.#failed = err;
    this.#o.log.error("cluster: a Kafka consumer stopped for good; this node cannot serve", {
      node: this.#o.name,
      consumer: what,
      err,
    });
    this.#o.onFatal?.(err);
  }

  #serially(step: () => Promise<void>): Promise<void> {
    const next = this.#membership.then(step);
    this.#membership = next.catch(() => {});
    return next;
  }

  async #onAssign(ps: readonly TopicPartition[]): Promise<void> {
    const now = this.#o.clock.now();
    const claimed: string[] = [];
    for (const { partition } of ps) {
      this.#releasing.delete(partition);
      const epoch = await this.ownership.claim(partition, now);
      claimed.push(`${partition}@${epoch}`);
    }
    this.counters.moves++;
    this.#o.log.info("partitions assigned", { node: this.#o.name, partitions: claimed.join(",") });
    this.#auditPresence();
  }

  async #onRevoke(ps: readonly TopicPartition[]): Promise<void> {
    const gone = new Set(ps.map((p) => p.partition));
    const n = await this.#handOver(gone);
    this.counters.moves++;
    this.#o.log.info("partitions revoked", {
      node: this.#o.name,
      partitions: [...gone].join(","),
      actors: n,
    });
    this.#auditPresence();
  }

  /**
   * After a move, the node list is read again and the queue checks who is still connected (a
   * node may have died with sockets).
   */
  #auditPresence(): void {
    if (this.#stopped || !this.#app) return;
    void this.registry.beat();
    try {
      this.tellType("queue", this.#app.queue, { type: "audit_presence" });
    } catch (err) {
      this.#o.log.warn("presence audit not sent", { err });
    }
  }

  async #dropLost(fencedAt: number): Promise<void> {
    const lost = await this.ownership.lost();
    if (!lost.includes(fencedAt)) this.#releasing.delete(fencedAt); // a stale check; still ours
    if (lost.length === 0) return;
    this.#o.log.warn("fenced: another node owns these partitions now", {
      node: this.#o.name,
      partitions: lost.join(","),
    });
    await this.#handOver(new Set(lost));
  }

  /**
   * Stops routing `gone` here, lets their actors finish and snapshot (still fenced as ours), then
   * forgets the partitions, unless one was assigned here again meanwhile. Returns the actor count.
   */
  async #handOver(gone: ReadonlySet<number>): Promise<number> {
    for (const p of gone) this.#releasing.add(p);
    const n = await this.#app!.system.release((a) => gone.has(partitionOf(a, this.partitions)));
    for (const p of gone) {
      if (!this.#releasing.delete(p)) continue; // assigned again meanwhile
      this.ownership.drop(p);
    }
    return n;
  }

  #onCommand(r: InRecord): void {
    const m = CommandRecord.parse(JSON.parse(r.value));
    const system = this.#app!.system;
    if (m.k === "tell") {
      try {
        system.tellType(m.type, m.id, m.cmd);
      } catch (err) {
        this.#o.log.warn("remote tell refused", { type: m.type, id: m.id, err });
      }
      return;
    }
    const left = m.deadline - this.#o.clock.now();
    if (left <= 0) return; // the asker has given up already
    this.counters.served++;
    const answer = (body: Record<string, unknown>) =>
      this.#outbox.send(TOPICS.replies, {
        key: m.from,
        value: JSON.stringify({ corr: m.corr, ...body }),
      }).catch((err) => this.#o.log.error("reply not sent", { to: m.from, err }));
    if (!this.#isLocal({ type: m.type, id: m.id })) {
      // Not run here: the asker sends it again to whoever owns the actor by then.
      this.#o.log.debug("command for an actor not owned here", {
        node: this.#o.name,
        partition: r.partition,
        owned: this.ownership.owned.join(","),
        releasing: [...this.#releasing].join(","),
      });
      void answer({ ok: false, moved: true, ...MOVED.toWire() });
      return;
    }
    system.askType(m.type, m.id, m.cmd, { timeoutMs: left }).then(
      (reply) => answer({ ok: true, reply }),
      (err) => answer({ ok: false, ...toAppError(err).toWire() }),
    );
  }

  #onNodeRecord(r: InRecord): void {
    if (r.topic === TOPICS.replies) {
      if (r.key === this.#o.nodeId) this.#asks.onReply(r.value);
      return;
    }
    const m = EventsRecord.parse(JSON.parse(r.value));
    if (m.from === this.#o.nodeId) return; // applied here when committed
    this.#app?.applyOps(m.ops as unknown as HubOp[]);
  }

  // ---- stopping ----

  /** Leaves gracefully: hands every partition over (snapshots), then stops listening. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.auditFeed.stop();
    await this.#owners?.stop();
    await this.#outbox.flushed();
    await this.#listener?.stop();
    await this.registry.stop(true);
    this.#asks.failAll(new AppError("unavailable", "Node is shutting down"));
  }

  /** Dies without a word (tests): the broker expels it, nothing is handed over. */
  kill(): void {
    this.#stopped = true;
    void this.auditFeed.stop();
    const crash = (this.#o.broker as { crash?: (c: Consumer) => void }).crash;
    for (const c of [this.#owners, this.#listener]) if (c && crash) crash.call(this.#o.broker, c);
    void this.registry.stop(false);
    this.#asks.failAll(new AppError("unavailable", "Node stopped"));
  }

  /** Remote asks waiting for replies (metrics). */
  get pendingAsks(): number {
    return this.#asks.size;
  }
}
