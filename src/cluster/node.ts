/**
 * One node of a cluster (docs/CLUSTER.md). It owns the partitions of `chat.commands` that its
 * consumer-group membership gives it, and hosts the actors of those partitions. `ask`/`tell` for
 * an actor owned elsewhere go through `chat.commands` (keyed by the actor key) and come back on
 * `chat.replies`; the hub operations of every commit go out on `chat.events`, so each node serves
 * the connections it holds. Ownership is fenced in KV by a per-partition epoch.
 *
 * Moves are hand-overs (docs/CLUSTER.md "Moves"): a node that loses a partition lets its actors
 * finish and snapshot, then marks the owner record released; a node given a partition claims it
 * (bumps the epoch) only once it is released, its old owner is dead, or `handOverBoundMs` has
 * passed. Meanwhile commands for it wait here, in order, for the claim. An ask that meets a fence
 * anyway (the partition moved under it) is routed again, to the new owner, instead of failing.
 * While the broker is unreachable (`Broker.health`), asks and tells for other nodes fail at once
 * with `unavailable` instead of waiting for their timeout.
 */
import { z } from "zod";
import { AppError, toAppError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Clock, TimerId } from "../runtime/clock.ts";
import { isFenced, type KvCheck } from "../runtime/committer.ts";
import type { ActorAddress, AnyEntity, CommandOf, ReplyOf } from "../runtime/entity.ts";
import type { ActorRouter, ActorSystem, AskOptions, TellOptions } from "../runtime/system.ts";
import type { HubOp } from "../server/hub_ops.ts";
import type { Broker, Consumer, InRecord, TopicPartition } from "./broker.ts";
import { AuditFeed } from "./audit_feed.ts";
import { Outbox } from "./outbox.ts";
import { RemoteAsks } from "./_remote_asks.ts";
import { type HandOver, NodeRegistry, Ownership } from "./ownership.ts";
import { isConnectionFailure } from "./reachability.ts";
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
  /**
   * Longest a new owner waits for the old one to hand a partition over before it claims it anyway
   * (default: the broker's session timeout, else 10 s).
   */
  readonly handOverBoundMs?: number;
  /**
   * An old owner whose heartbeat is older than this is dead: no wait. Default: the hand-over bound
   * (the group's session timeout: a crashed owner's partitions are given away only after it, so
   * its heartbeat is that old by then, while a busy live node's late heartbeat is not mistaken for
   * a death), at least 2 heartbeats.
   */
  readonly deadAfterMs?: number;
}

/** Times an ask that met a fence (its partition moved under it) is routed again. */
const FENCED_RETRIES = 3;
/** Commands held here for partitions being claimed, over all of them. */
const MAX_HELD = 10_000;
/** Seconds a client should wait before retrying while Kafka is unreachable (`Retry-After`). */
export const KAFKA_RETRY_AFTER_S = 5;

/** A partition this node was given and has not claimed yet (it waits for the hand-over). */
interface Claim {
  readonly abort: AbortController;
  /** The claim's outcome: how it went, or null when given up (revoked, stopped). */
  readonly done: Promise<Claimed | null>;
  /** Commands for the partition that came meanwhile, run in order when the claim settles. */
  readonly held: Array<(claimed: boolean) => void>;
  /** Settles after the first look at the owner record: true when the claim has to wait. */
  readonly looked: Promise<boolean>;
}

interface Claimed {
  readonly partition: number;
  readonly epoch: number;
  readonly why: HandOver;
  readonly waitedMs: number;
  /** The previous owner's name, when there was one. */
  readonly from: string | null;
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
  z.object({
    k: z.literal("tell"),
    type: z.string(),
    id: z.string(),
    cmd: z.unknown(),
    /** The sender's owed-command record, settled by the receiver (`Message.outboxKey`). */
    ob: z.array(z.union([z.string(), z.number()])).optional(),
  }),
]);
const EventsRecord = z.object({
  from: z.string(),
  ops: z.array(z.looseObject({ op: z.string() })),
});

/** The answer to a command for an actor this node is handing over (the asker sends it again). */
const MOVED = new AppError("unavailable", "Actor is moving to another node; retry");

/** `unavailable` with a `Retry-After` for REST (src/server/http.ts reads `retryAfterS`). */
function kafkaUnavailable(since: number, reason: string | null): AppError {
  const err = new AppError(
    "unavailable",
    `Kafka is unreachable from this node since ${new Date(since).toISOString()}, so commands ` +
      `for actors on other nodes cannot be sent; retry in ${KAFKA_RETRY_AFTER_S} s`,
    { cause: reason ?? undefined },
  );
  return Object.assign(err, { retryAfterS: KAFKA_RETRY_AFTER_S });
}

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
  /** Partitions given to this node that wait for their old owner's hand-over. */
  readonly #claims = new Map<number, Claim>();
  /** Partitions a fenced write made suspect, until KV has confirmed whether they are lost. */
  readonly #suspects = new Set<number>();
  #held = 0;
  readonly #handOverBoundMs: number;
  readonly #deadAfterMs: number;
  #unwatchHealth: (() => void) | null = null;
  #killed = false;
  #app: ClusterApp | null = null;
  #owners: Consumer | null = null;
  #listener: Consumer | null = null;
  #stopped = false;
  #failed: Error | null = null;
  #dropping: Promise<void> = Promise.resolve();
  /** Assignment, revocation and fencing changes run one after the other, in this chain. */
  #membership: Promise<void> = Promise.resolve();
  readonly counters: {
    remoteAsks: number;
    remoteTells: number;
    served: number;
    fenced: number;
    moves: number;
    /** Claims that waited for the old owner, the time they waited, and those that hit the bound. */
    handOverWaits: number;
    handOverWaitMs: number;
    handOverBound: number;
    /** Asks that met a fence and were routed again (here) or bounced to their asker (served). */
    fencedRetries: number;
    /** Times the broker became unreachable; asks and tells refused at once meanwhile. */
    kafkaOutages: number;
    kafkaRefused: number;
    /** Broker failures counted by this node instead of logged, and by the broker client. */
    kafkaQuieted: number;
    readonly kafkaErrors: number;
  };

  constructor(o: ClusterNodeOptions) {
    this.#o = o;
    this.counters = {
      remoteAsks: 0,
      remoteTells: 0,
      served: 0,
      fenced: 0,
      moves: 0,
      handOverWaits: 0,
      handOverWaitMs: 0,
      handOverBound: 0,
      fencedRetries: 0,
      kafkaOutages: 0,
      kafkaRefused: 0,
      kafkaQuieted: 0,
      get kafkaErrors() {
        return (o.broker.health as { counts?: { errors: number } } | undefined)?.counts?.errors ??
          0;
      },
    };
    this.#handOverBoundMs = o.handOverBoundMs ?? o.broker.sessionTimeoutMs ?? 10_000;
    this.#deadAfterMs = o.deadAfterMs ?? Math.max(2 * o.heartbeatMs, this.#handOverBoundMs);
    this.partitions = o.broker.partitions(TOPICS.commands);
    this.ownership = new Ownership(o.kv, o.nodeId, o.name);
    this.registry = new NodeRegistry({
      kv: o.kv,
      clock: o.clock,
      self: { node: o.nodeId, name: o.name, url: o.url, startedAt: o.clock.now() },
      everyMs: o.heartbeatMs,
      log: o.log,
    });
    this.#outbox = new Outbox(o.broker, o.maxOutbox ?? 20_000, o.log, (err) => this.#quiet(err));
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

  /** Partitions given to this node that still wait for their old owner's hand-over. */
  get claiming(): number[] {
    return [...this.#claims.keys()].sort((a, b) => a - b);
  }

  /** Settles once no partition waits for a hand-over here (tests). */
  async claimed(): Promise<void> {
    while (this.#claims.size > 0) await Promise.all([...this.#claims.values()].map((c) => c.done));
  }

  /** Why commands for other nodes fail at once now (the broker is unreachable), or null. */
  get kafkaUnreachable(): AppError | null {
    const h = this.#o.broker.health;
    if (!h || h.reachable) return null;
    return kafkaUnavailable(h.downSince ?? this.#o.clock.now(), h.reason);
  }

  // ---- hooks for the actor system ----

  /** The KV checks every write of `address` carries: this node's epoch of its partition. */
  fence = (address: ActorAddress): readonly KvCheck[] =>
    this.ownership.fence(partitionOf(address, this.partitions));

  /**
   * Effect tells to actors owned elsewhere go to their owner; returns true when it took one. A
   * tell for a partition being claimed here waits for the claim; one that cannot be sent (the
   * broker is unreachable) stays owed and goes again when the broker answers.
   */
  forward = (to: ActorAddress, command: unknown, outboxKey?: Deno.KvKey): boolean => {
    const p = partitionOf(to, this.partitions);
    const claim = this.#claims.get(p);
    if (claim) {
      this.#hold(claim, () => {
        if (this.forward(to, command, outboxKey)) return;
        try {
          this.#app?.system.tellType(to.type, to.id, command, outboxKey ? { outboxKey } : {});
        } catch (err) {
          this.#o.log.warn("a held tell was refused (it stays owed)", { ...to, err });
        }
      });
      return true;
    }
    if (this.#isLocalPartition(p)) return false;
    if (this.kafkaUnreachable) {
      this.counters.kafkaRefused++;
      return true; // still owed: sent again when Kafka answers (#onKafka)
    }
    this.#tellRemote(to.type, to.id, command, outboxKey).catch((err) =>
      this.#trouble("forwarding a tell failed (it stays owed)", err, { ...to })
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
    this.#suspectLost(p);
  };

  /**
   * Stops routing `p` here at once; confirms against KV and hands over what is really lost (a
   * partition found still ours is routed here again). Once per partition until confirmed.
   */
  #suspectLost(p: number): void {
    if (this.#suspects.has(p)) return;
    this.#suspects.add(p);
    this.#releasing.add(p);
    this.#dropping = this.#dropping.then(() => this.#dropLost(p)).catch((err) =>
      this.#o.log.error("dropping fenced partitions failed", { err })
    ).finally(() => this.#suspects.delete(p));
  }

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
    if (!this.#app) {
      return Promise.reject(new AppError("unavailable", "Cluster node is not started"));
    }
    const timeoutMs = opts.timeoutMs ?? this.#o.askTimeoutMs;
    return this.#route(type, id, command, timeoutMs, this.#o.clock.now() + timeoutMs, 0);
  }

  /**
   * Runs an ask where its actor lives now: here (waiting for a claim in progress first), or on its
   * owner through the broker. An ask fenced here (the partition moved under it; nothing was
   * written) goes again through this routing, to the new owner, up to FENCED_RETRIES times.
   */
  #route(
    type: string,
    id: string,
    cmd: unknown,
    timeoutMs: number,
    deadline: number,
    fenced: number,
  ): Promise<unknown> {
    const app = this.#app!;
    if (this.#killed) return Promise.reject(new AppError("unavailable", "Node stopped"));
    const left = deadline - this.#o.clock.now();
    const late = () =>
      new AppError("timeout", `No reply from ${type} ${id} within ${timeoutMs} ms`);
    if (left <= 0) return Promise.reject(late());
    const p = partitionOf({ type, id }, this.partitions);
    const claim = this.#claims.get(p);
    if (claim) {
      // Taking the partition over: the ask waits for the old owner's hand-over (bounded).
      if (this.#held >= MAX_HELD) {
        return Promise.reject(new AppError("overloaded", "Too many commands wait for a hand-over"));
      }
      return new Promise((resolve, reject) => {
        let timer: TimerId | null = this.#o.clock.setTimeout(() => {
          timer = null;
          reject(late());
        }, left);
        const go = () => {
          if (timer === null) return;
          this.#o.clock.clearTimeout(timer);
          timer = null;
          this.#route(type, id, cmd, timeoutMs, deadline, fenced).then(resolve, reject);
        };
        this.#hold(claim, go);
      });
    }
    if (this.#isLocalPartition(p)) {
      return app.system.askType(type, id, cmd, { timeoutMs: left }).catch((err) => {
        if (!isFenced(err) || fenced >= FENCED_RETRIES || this.#stopped) throw err;
        this.counters.fencedRetries++;
        // Nothing was written. Stop routing the partition here (onFenced does too, maybe not
        // yet), and once the loss is confirmed (or found stale) go where it lives now.
        this.#suspectLost(p);
        return this.#dropping.then(() =>
          this.#route(type, id, cmd, timeoutMs, deadline, fenced + 1)
        );
      });
    }
    const down = this.kafkaUnreachable;
    if (down) {
      this.counters.kafkaRefused++;
      return Promise.reject(down);
    }
    return this.#asks.ask(type, id, cmd, left);
  }

  tellType(type: string, id: string, command: unknown, opts: TellOptions = {}): void {
    const app = this.#app;
    if (!app) throw new AppError("unavailable", "Cluster node is not started");
    const claim = this.#claims.get(partitionOf({ type, id }, this.partitions));
    if (claim) {
      const later = () => {
        try {
          this.tellType(type, id, command, opts);
        } catch (err) {
          this.#o.log.warn("a held tell was refused", { type, id, err });
        }
      };
      if (this.#hold(claim, later)) return;
      throw new AppError("overloaded", "Too many commands wait for a hand-over");
    }
    if (this.#isLocal({ type, id })) return app.system.tellType(type, id, command, opts);
    const down = this.kafkaUnreachable;
    if (down) {
      this.counters.kafkaRefused++;
      throw down;
    }
    this.#tellRemote(type, id, command, opts.outboxKey).catch((err) =>
      this.#trouble("remote tell failed", err, { type, id })
    );
  }

  /** Keeps a command until `claim` settles; false when too many are held already. */
  #hold(claim: Claim, run: (claimed: boolean) => void): boolean {
    if (this.#held >= MAX_HELD) return false;
    this.#held++;
    claim.held.push(run);
    return true;
  }

  /**
   * A broker failure worth an error line, unless the broker is unreachable (then it is counted:
   * the outage is logged once, by the broker's reachability).
   */
  #trouble(msg: string, err: unknown, fields: Record<string, unknown>): void {
    if (!this.#quiet(err)) this.#o.log.error(msg, { ...fields, err });
  }

  #quiet(err: unknown): boolean {
    if (!this.kafkaUnreachable && !isConnectionFailure(err)) return false;
    this.counters.kafkaQuieted++;
    return true;
  }

  /**
   * Publishes a commit's hub operations to every other node, keyed by the actor that committed
   * (chat id, or the queue name), so one actor's operations stay in order on one partition.
   */
  fanout = (ops: HubOp[], key: string): void => {
    this.#outbox.send(TOPICS.events, {
      key,
      value: JSON.stringify({ from: this.#o.nodeId, ops }),
    }).catch((err) => this.#trouble("publishing hub operations failed", err, { key }));
  };

  #isLocal(address: ActorAddress): boolean {
    return this.#isLocalPartition(partitionOf(address, this.partitions));
  }

  #isLocalPartition(p: number): boolean {
    return this.ownership.owns(p) && !this.#releasing.has(p);
  }

  #tellRemote(type: string, id: string, cmd: unknown, ob?: Deno.KvKey): Promise<void> {
    this.counters.remoteTells++;
    return this.#outbox.send(TOPICS.commands, {
      key: id,
      value: JSON.stringify({ k: "tell", type, id, cmd, ...(ob ? { ob } : {}) }),
    });
  }

  // ---- consuming ----

  async start(app: ClusterApp): Promise<void> {
    this.#app = app;
    // The owed-commands sweep sends only what the actors owned here owe.
    app.system.ownsSenders((a) => this.#isLocal(a));
    this.#unwatchHealth = this.#o.broker.health?.onChange((up) => this.#onKafka(up)) ?? null;
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

  /**
   * Partitions given to this node: each is claimed (its epoch bumped) once its old owner has
   * handed it over, died, or the bound has passed. The first look at each owner record is awaited
   * here (a released or free partition is claimed at once, before any of its records is handled);
   * partitions that must wait are claimed in the background, their commands held meanwhile, so
   * the broker's consumer is never blocked for the length of a hand-over.
   */
  async #onAssign(ps: readonly TopicPartition[]): Promise<void> {
    const start = this.#o.clock.now();
    const claims: Claim[] = [];
    for (const { partition } of ps) {
      this.#releasing.delete(partition);
      if (this.#claims.has(partition)) continue;
      claims.push(this.#claim(partition, start));
    }
    this.counters.moves++;
    const waits = await Promise.all(claims.map((c) => c.looked));
    const now = claims.filter((_, i) => !waits[i]).map((c) => c.done);
    const later = claims.filter((_, i) => waits[i]).map((c) => c.done);
    this.#claimedSome(await Promise.all(now));
    if (later.length > 0) {
      void Promise.all(later).then((done) => this.#claimedSome(done)).catch((err) =>
        this.#o.log.error("claiming partitions failed", { err })
      );
    }
  }

  /** Logs the claims, checks who is connected, and sends what the new actors' senders owe. */
  #claimedSome(done: readonly (Claimed | null)[]): void {
    const claimed = done.filter((c): c is Claimed => c !== null);
    if (claimed.length === 0) return;
    this.#o.log.info("partitions assigned", {
      node: this.#o.name,
      partitions: claimed.map((c) => `${c.partition}@${c.epoch}`).join(","),
      handed: claimed.map((c) =>
        `${c.partition}:${c.why}${c.waitedMs > 0 ? `+${c.waitedMs}ms` : ""}${
          c.from ? `<${c.from}` : ""
        }`
      ).join(","),
    });
    this.#auditPresence();
    // What the actors of these partitions owe others and a dead owner did not deliver.
    const taken = new Set(claimed.map((c) => c.partition));
    void this.#app?.system.redeliverOwed((a) => taken.has(partitionOf(a, this.partitions)))
      .catch((err) => this.#o.log.error("owed commands not sent again", { err }));
  }

  /** Starts claiming `p` (see #onAssign); the claim is in `#claims` until it settles. */
  #claim(p: number, start: number): Claim {
    const abort = new AbortController();
    const held: Claim["held"] = [];
    const looked = Promise.withResolvers<boolean>();
    const limits = { boundMs: this.#handOverBoundMs, deadAfterMs: this.#deadAfterMs };
    const clock = this.#o.clock;
    const gaveUp = () => abort.signal.aborted || this.#killed;
    const run = async (): Promise<Claimed | null> => {
      let pauseMs = 5;
      for (let round = 0;; round++) {
        if (gaveUp()) return null;
        try {
          const now = clock.now();
          const { state, owner } = await this.ownership.handOverState(p, now, now - start, limits);
          if (state !== "wait") {
            if (gaveUp()) return null;
            const epoch = await this.ownership.claim(p, clock.now());
            const waitedMs = clock.now() - start;
            if (round > 0) {
              this.counters.handOverWaits++;
              this.counters.handOverWaitMs += waitedMs;
            }
            if (state === "bound") {
              this.counters.handOverBound++;
              this.#o.log.warn("hand-over not seen within the bound; partition claimed anyway", {
                node: this.#o.name,
                partition: p,
                from: owner?.name,
                waitedMs,
              });
            }
            return { partition: p, epoch, why: state, waitedMs, from: owner?.name ?? null };
          }
          if (round === 0) {
            this.#o.log.debug("waiting for the hand-over of a partition", {
              node: this.#o.name,
              partition: p,
              from: owner?.name,
            });
          }
        } catch (err) {
          this.#o.log.warn("claiming a partition failed; trying again", { partition: p, err });
        }
        looked.resolve(true);
        await this.#pause(pauseMs, abort.signal);
        pauseMs = Math.min(100, pauseMs * 2);
      }
    };
    const settle = (claimed: boolean) => {
      looked.resolve(false);
      this.#claims.delete(p);
      // In order, before anything newer can take the now-settled route.
      for (const go of held.splice(0)) {
        this.#held--;
        try {
          go(claimed);
        } catch (err) {
          this.#o.log.error("a held command failed", { partition: p, err });
        }
      }
    };
    const done = run().then((c) => {
      settle(c !== null);
      return c;
    }, (err) => {
      settle(false);
      this.#o.log.error("claiming a partition failed", { partition: p, err });
      return null;
    });
    const claim: Claim = { abort, held, looked: looked.promise, done };
    this.#claims.set(p, claim);
    return claim;
  }

  /** Waits `ms` on the node's clock, or less when `signal` aborts. */
  #pause(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#o.clock.clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = this.#o.clock.setTimeout(done, ms);
      signal.addEventListener("abort", done);
    });
  }

  async #onRevoke(ps: readonly TopicPartition[]): Promise<void> {
    const gone = new Set(ps.map((p) => p.partition));
    // Partitions still waiting for a hand-over here were never ours: give the claims up.
    const waiting = [...gone].flatMap((p) => this.#claims.get(p) ?? []);
    for (const c of waiting) c.abort.abort();
    await Promise.all(waiting.map((c) => c.done));
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
   * Stops routing `gone` here, lets their actors finish and snapshot (still fenced as ours), marks
   * the owner records released (the next owner waits for that before it claims), then forgets
   * the partitions, unless one was assigned here again meanwhile. Returns the actor count.
   */
  async #handOver(gone: ReadonlySet<number>): Promise<number> {
    for (const p of gone) this.#releasing.add(p);
    const n = await this.#app!.system.release((a) => gone.has(partitionOf(a, this.partitions)));
    const now = this.#o.clock.now();
    await Promise.all([...gone].map(async (p) => {
      if (!this.#releasing.has(p) || !this.ownership.owns(p)) return;
      await this.ownership.release(p, now).catch((err) =>
        this.#o.log.warn("hand-over mark not written; the next owner waits for its bound", {
          partition: p,
          err,
        })
      );
    }));
    for (const p of gone) {
      if (!this.#releasing.delete(p)) continue; // assigned again meanwhile
      this.ownership.drop(p);
    }
    return n;
  }

  #onCommand(r: InRecord): void {
    const m = CommandRecord.parse(JSON.parse(r.value));
    const claim = this.#claims.get(partitionOf({ type: m.type, id: m.id }, this.partitions));
    if (m.k === "tell") {
      if (claim) {
        const later = (claimed: boolean) => {
          if (claimed) this.#deliverTell(m);
          // Given up (revoked, or this node leaves): on to whoever owns the partition now.
          else if (!this.#killed) {
            this.#tellRemote(m.type, m.id, m.cmd, m.ob).catch((err) =>
              this.#trouble("passing a tell on failed", err, { type: m.type, id: m.id })
            );
          }
        };
        if (this.#hold(claim, later)) return;
      }
      this.#deliverTell(m);
      return;
    }
    if (m.deadline - this.#o.clock.now() <= 0) return; // the asker has given up already
    if (claim && this.#hold(claim, (claimed) => claimed ? this.#serve(m) : this.#moved(m))) return;
    this.#serve(m);
  }

  #deliverTell(m: { type: string; id: string; cmd: unknown; ob?: Deno.KvKey }): void {
    try {
      this.#app!.system.tellType(m.type, m.id, m.cmd, m.ob ? { outboxKey: m.ob } : {});
    } catch (err) {
      this.#o.log.warn("remote tell refused", { type: m.type, id: m.id, err });
    }
  }

  #answer(m: { corr: string; from: string }, body: Record<string, unknown>): void {
    this.#outbox.send(TOPICS.replies, {
      key: m.from,
      value: JSON.stringify({ corr: m.corr, ...body }),
    }).catch((err) => this.#trouble("reply not sent", err, { to: m.from }));
  }

  /** Not run here: the asker sends it again to whoever owns the actor by then. */
  #moved(m: { corr: string; from: string }): void {
    this.#answer(m, { ok: false, moved: true, ...MOVED.toWire() });
  }

  /** Runs a remote ask here, if its actor is (still) here; a fenced run is bounced as moved. */
  #serve(
    m: { corr: string; from: string; type: string; id: string; cmd: unknown; deadline: number },
  ): void {
    const left = m.deadline - this.#o.clock.now();
    if (left <= 0) return;
    if (!this.#isLocal({ type: m.type, id: m.id })) {
      this.#o.log.debug("command for an actor not owned here", {
        node: this.#o.name,
        type: m.type,
        id: m.id,
        owned: this.ownership.owned.join(","),
        releasing: [...this.#releasing].join(","),
      });
      this.#moved(m);
      return;
    }
    this.counters.served++;
    this.#app!.system.askType(m.type, m.id, m.cmd, { timeoutMs: left }).then(
      (reply) => this.#answer(m, { ok: true, reply }),
      (err) => {
        if (!isFenced(err)) return this.#answer(m, { ok: false, ...toAppError(err).toWire() });
        // Nothing was written: the asker sends it again, to the partition's new owner.
        this.counters.fencedRetries++;
        this.#moved(m);
      },
    );
  }

  /** The broker became unreachable, or reachable again. */
  #onKafka(reachable: boolean): void {
    if (this.#stopped) return;
    if (!reachable) {
      this.counters.kafkaOutages++;
      // Their replies cannot come: the askers hear it now, not at their timeout.
      const err = this.kafkaUnreachable;
      if (err) this.#asks.failAll(err);
      return;
    }
    // Tells the actors here owed others and could not send meanwhile go now.
    void this.#app?.system.redeliverOwed((a) => this.#isLocal(a)).catch((err) =>
      this.#o.log.error("owed commands not sent again", { err })
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
    this.#unwatchHealth?.();
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
    this.#killed = true;
    this.#unwatchHealth?.();
    for (const c of this.#claims.values()) c.abort.abort();
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
