/**
 * One consumer group of the in-memory broker: members in join order, committed offsets per
 * partition, round-robin assignment, serialized rebalances (revoke, await, then assign) and
 * per-partition delivery, one record at a time. `memory_broker.ts` owns the logs and the groups.
 */
import type { ConsumeOptions, Consumer, InRecord, TopicPartition } from "./broker.ts";
import type { Logger } from "../log.ts";

/** What a group needs from the cluster that holds the logs. */
export interface GroupHost {
  readonly logger: Logger;
  /** The partition's log; the array grows in place as records are produced. */
  log(topic: string, partition: number): readonly InRecord[];
  partitions(topic: string): number;
  /** A handler of `groupId` threw for `record`. */
  deadLetter(record: InRecord, error: unknown, groupId: string): void;
  /** Something observable happened (delivery, commit, rebalance): wakes `idle()` and waiters. */
  changed(): void;
}

/** Resolvers whose rejection only the awaiting `consume()` sees (settling twice is a no-op). */
function deferred<T>(): PromiseWithResolvers<T> {
  const d = Promise.withResolvers<T>();
  d.promise.catch(() => {});
  return d;
}

const slotKey = (topic: string, partition: number) => `${topic}/${partition}`;

/** One member's hold on one partition. A new lease per assignment; a stale lease changes nothing. */
class Lease {
  position = 0;
  ready = false;
  revoking = false;
  running = false;
  inFlight: Promise<void> | null = null;
  constructor(readonly member: Member) {}
}

/** The group's view of one partition. */
interface Slot {
  readonly tp: TopicPartition;
  /** Next offset to consume; undefined until a member first takes the partition. */
  committed: number | undefined;
  lease: Lease | null;
}

export class Member implements Consumer {
  dead = false;
  leaving = false;
  paused = false;
  stopping: Promise<void> | null = null;
  readonly ready = deferred<void>();
  readonly died = deferred<void>();
  readonly held = new Map<string, TopicPartition>();

  constructor(
    readonly group: Group,
    readonly opts: ConsumeOptions,
    /** Log end offsets when it joined: where `fromBeginning: false` starts for a new group. */
    readonly joinedAt: ReadonlyMap<string, number>,
    readonly gone: () => void,
  ) {}

  get assignment(): readonly TopicPartition[] {
    return [...this.held.values()].sort((a, b) =>
      a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1
    );
  }

  stop(): Promise<void> {
    return this.group.leave([this]);
  }
}

/** Awaits `work` unless the member dies first (a dead member's callbacks are not waited for). */
function unlessDead(member: Member, work: Promise<unknown>): Promise<unknown> {
  return Promise.race([work, member.died.promise]);
}

export class Group {
  readonly #members: Member[] = [];
  readonly #slots = new Map<string, Slot>();
  #chain: Promise<void> = Promise.resolve();
  #pending = 0;

  constructor(
    readonly id: string,
    private readonly host: GroupHost,
    /**
     * Kafka's eager protocol as kafkajs delivers it: the records in flight finish, then the old
     * owners are told (`onRevoke`) and the new ones (`onAssign`) at the same time, instead of
     * revoke-then-assign.
     */
    private readonly eager = false,
  ) {}

  join(opts: ConsumeOptions, gone: () => void): Member {
    const joinedAt = new Map<string, number>();
    for (const topic of new Set(opts.topics)) {
      for (let p = 0; p < this.host.partitions(topic); p++) {
        const key = slotKey(topic, p);
        joinedAt.set(key, this.host.log(topic, p).length);
        if (!this.#slots.has(key)) {
          this.#slots.set(key, { tp: { topic, partition: p }, committed: undefined, lease: null });
        }
      }
    }
    const member = new Member(this, opts, joinedAt, gone);
    this.#members.push(member);
    void this.#rebalance();
    return member;
  }

  /** Graceful leave of some members in one rebalance: drain, onRevoke, then the others move in. */
  leave(members: readonly Member[]): Promise<void> {
    const leaving = members.filter((m) => !m.dead && !m.leaving);
    for (const m of leaving) {
      m.leaving = true;
      this.#members.splice(this.#members.indexOf(m), 1);
      m.ready.reject(new Error(`consumer of group "${this.id}" left before its first assignment`));
    }
    if (leaving.length > 0) {
      const done = this.#rebalance().then(() => leaving.forEach((m) => m.gone()));
      for (const m of leaving) m.stopping = done;
    }
    return Promise.all(members.map((m) => m.stopping)).then(() => {});
  }

  /** The member dies: no onRevoke, in-flight work abandoned, its partitions move at once. */
  crash(member: Member): void {
    if (member.dead) return;
    member.dead = true;
    member.died.resolve();
    const at = this.#members.indexOf(member);
    if (at >= 0) this.#members.splice(at, 1);
    for (const slot of this.#slots.values()) {
      if (slot.lease?.member === member) slot.lease = null;
    }
    member.held.clear();
    member.ready.reject(new Error(`consumer of group "${this.id}" crashed`));
    member.gone();
    void this.#rebalance();
  }

  pause(member: Member, paused: boolean): void {
    member.paused = paused;
    if (!paused) this.#slots.forEach((slot) => this.#pump(slot));
    this.host.changed();
  }

  /** New records on a partition: wakes its delivery. */
  appended(topic: string, partition: number): void {
    const slot = this.#slots.get(slotKey(topic, partition));
    if (slot) this.#pump(slot);
  }

  committed(topic: string, partition: number): number | undefined {
    return this.#slots.get(slotKey(topic, partition))?.committed;
  }

  /** No rebalance pending and every record of every held, unpaused partition handled. */
  quiet(): boolean {
    if (this.#pending > 0) return false;
    for (const slot of this.#slots.values()) {
      const lease = slot.lease;
      if (!lease) continue;
      if (lease.running) return false;
      if (lease.member.paused) continue;
      if (!lease.ready) return false;
      if (lease.position < this.host.log(slot.tp.topic, slot.tp.partition).length) return false;
    }
    return true;
  }

  /** Queues a rebalance behind the running one; resolves when it is done. */
  #rebalance(): Promise<void> {
    this.#pending++;
    const run = this.#chain
      .then(() => this.#settle())
      .catch((error) => this.host.logger.error("memory broker: rebalance failed", { error }))
      .finally(() => {
        this.#pending--;
        this.host.changed();
      });
    this.#chain = run;
    return run;
  }

  async #settle(): Promise<void> {
    const members = this.#members.slice();
    const target = this.#assign(members);
    const losses = new Map<Member, Slot[]>();
    for (const [key, slot] of this.#slots) {
      const owner = slot.lease?.member;
      if (owner && target.get(key) !== owner) losses.set(owner, [...losses.get(owner) ?? [], slot]);
    }
    if (this.eager) return await this.#settleEagerly(members, target, losses);
    await Promise.all([...losses].map(([member, slots]) => this.#revoke(member, slots)));
    const gains = new Map<Member, Slot[]>();
    for (const [key, member] of target) {
      const slot = this.#slots.get(key)!;
      if (member.dead || member.leaving || slot.lease) continue;
      slot.lease = new Lease(member);
      member.held.set(key, slot.tp);
      gains.set(member, [...gains.get(member) ?? [], slot]);
    }
    await Promise.all([...gains].map(([member, slots]) => this.#grant(member, slots)));
    for (const member of members) if (!member.dead && !member.leaving) member.ready.resolve();
    this.host.logger.debug("memory broker: group settled", {
      group: this.id,
      members: this.#members.map((m) => m.assignment.map((tp) => slotKey(tp.topic, tp.partition))),
    });
  }

  /** See `eager`: in-flight records finish, then onRevoke and onAssign run side by side. */
  async #settleEagerly(
    members: readonly Member[],
    target: Map<string, Member>,
    losses: Map<Member, Slot[]>,
  ): Promise<void> {
    const moving = [...losses].flatMap(([member, slots]) =>
      slots.map((slot) => ({ member, lease: slot.lease! }))
    );
    for (const { lease } of moving) lease.revoking = true;
    await Promise.all(
      moving.map(({ member, lease }) => unlessDead(member, lease.inFlight ?? Promise.resolve())),
    );
    const revokes: Promise<void>[] = [];
    for (const [member, slots] of losses) {
      if (member.dead) continue;
      for (const slot of slots) {
        if (slot.lease?.member === member) slot.lease = null;
        member.held.delete(slotKey(slot.tp.topic, slot.tp.partition));
      }
      revokes.push(this.#callback(member, "onRevoke", slots));
    }
    const gains = new Map<Member, Slot[]>();
    for (const [key, member] of target) {
      const slot = this.#slots.get(key)!;
      if (member.dead || member.leaving || slot.lease) continue;
      slot.lease = new Lease(member);
      member.held.set(key, slot.tp);
      gains.set(member, [...gains.get(member) ?? [], slot]);
    }
    const grants = [...gains].map(([member, slots]) => this.#grant(member, slots));
    await Promise.all([...revokes, ...grants]);
    for (const member of members) if (!member.dead && !member.leaving) member.ready.resolve();
  }

  /** Round robin over the members in join order, topics by name, partitions ascending. */
  #assign(members: readonly Member[]): Map<string, Member> {
    const target = new Map<string, Member>();
    const topics = [...new Set(members.flatMap((m) => m.opts.topics))].sort();
    let cursor = 0;
    for (const topic of topics) {
      for (let p = 0; p < this.host.partitions(topic); p++) {
        for (let i = 0; i < members.length; i++) {
          const member = members[(cursor + i) % members.length];
          if (!member.opts.topics.includes(topic)) continue;
          target.set(slotKey(topic, p), member);
          cursor = (cursor + i + 1) % members.length;
          break;
        }
      }
    }
    return target;
  }

  async #revoke(member: Member, slots: Slot[]): Promise<void> {
    const leases = slots.map((slot) => slot.lease!);
    for (const lease of leases) lease.revoking = true;
    await unlessDead(member, Promise.all(leases.map((lease) => lease.inFlight)));
    if (member.dead) return;
    await this.#callback(member, "onRevoke", slots);
    if (member.dead) return;
    for (const slot of slots) {
      if (slot.lease?.member === member) slot.lease = null;
      member.held.delete(slotKey(slot.tp.topic, slot.tp.partition));
    }
  }

  async #grant(member: Member, slots: Slot[]): Promise<void> {
    await this.#callback(member, "onAssign", slots);
    if (member.dead) return;
    for (const slot of slots) {
      const lease = slot.lease;
      if (lease?.member !== member) continue;
      const key = slotKey(slot.tp.topic, slot.tp.partition);
      slot.committed ??= member.opts.fromBeginning ? 0 : member.joinedAt.get(key) ?? 0;
      lease.position = slot.committed;
      lease.ready = true;
      this.#pump(slot);
    }
  }

  async #callback(member: Member, name: "onAssign" | "onRevoke", slots: Slot[]): Promise<void> {
    const fn = member.opts[name];
    if (!fn) return;
    const call = (async () => await fn(slots.map((s) => s.tp)))();
    this.host.changed();
    try {
      await unlessDead(member, call);
    } catch (error) {
      this.host.logger.error(`memory broker: ${name} failed`, { group: this.id, error });
    }
  }

  #pump(slot: Slot): void {
    const lease = slot.lease;
    if (!lease || !lease.ready || lease.revoking || lease.running) return;
    if (lease.member.paused || lease.member.dead) return;
    if (lease.position >= this.host.log(slot.tp.topic, slot.tp.partition).length) return;
    lease.running = true;
    queueMicrotask(() => void this.#run(slot, lease));
  }

  async #run(slot: Slot, lease: Lease): Promise<void> {
    const log = this.host.log(slot.tp.topic, slot.tp.partition);
    const member = lease.member;
    while (
      slot.lease === lease && !lease.revoking && !member.paused && !member.dead &&
      lease.position < log.length
    ) {
      const step = this.#handle(slot, lease, log[lease.position++]);
      lease.inFlight = step;
      await step;
      lease.inFlight = null;
    }
    lease.running = false;
    this.host.changed();
  }

  async #handle(slot: Slot, lease: Lease, record: InRecord): Promise<void> {
    const member = lease.member;
    const call = (async () => await member.opts.onMessage(record))();
    this.host.changed();
    let failure: { error: unknown } | undefined;
    try {
      await call;
    } catch (error) {
      failure = { error };
    }
    // A crashed member's late completion neither dead-letters nor commits.
    if (slot.lease !== lease || member.dead) return;
    if (failure) this.host.deadLetter(record, failure.error, this.id);
    slot.committed = Number(record.offset) + 1;
  }
}
