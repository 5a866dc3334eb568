/**
 * The in-memory `Broker` for tests: topics with partitions (murmur2 placement, as Kafka), append-only
 * partition logs, consumer groups with committed offsets, round-robin assignment and rebalances
 * that revoke (and wait) before they assign. Delivery runs on microtasks, never on timers, so a test
 * that awaits `produce` and then a promise its handler resolves is deterministic.
 *
 * One `new MemoryBroker(...)` is a cluster and its first node; `connect()` gives another node on the
 * same cluster (another process, as far as the cluster code can tell). Test hooks beyond `Broker`:
 * `crash`, `pause`/`resume`, `outage` (this node cannot reach the broker), `idle`/`isIdle`/
 * `changed`/`waitFor`, `records`, `committed`. Option `eager` makes rebalances tell old and new
 * owners at the same time, as kafkajs does, instead of revoking before assigning.
 */
import {
  type Broker,
  type ConsumeOptions,
  type Consumer,
  DEAD_LETTER_TOPIC,
  type DeadLetter,
  type InRecord,
  type OutRecord,
  type TopicSpec,
} from "./broker.ts";
import { createLogger, type Logger } from "../log.ts";
import type { BrokerHealth } from "./reachability.ts";
import { partitionFor } from "./murmur2.ts";
import { Group, type GroupHost, Member } from "./_memory_group.ts";

export interface MemoryBrokerOptions {
  /** Topics and partition counts. `DEAD_LETTER_TOPIC` is added with 1 partition if missing. */
  readonly topics: readonly TopicSpec[];
  /** Defaults to warnings and errors on stderr. */
  readonly logger?: Logger;
  /**
   * Kafka's session timeout, as `Broker.sessionTimeoutMs` reports it (default 1000 ms). A crash
   * here moves partitions at once; this only bounds how long a new owner waits for a hand-over.
   */
  readonly sessionTimeoutMs?: number;
  /** Rebalances tell old and new owners at the same time (kafkajs), see `Group`. */
  readonly eager?: boolean;
  /**
   * Largest record (key and value, UTF-8 bytes) `produce` takes; a larger one is refused, as a
   * Kafka broker refuses one over `message.max.bytes` (about 1 MiB by default), so tests meet the
   * limit production meets. Default {@link KAFKA_RECORD_MAX_BYTES}.
   */
  readonly maxRecordBytes?: number;
}

/** Kafka's default `message.max.bytes` (1,048,588) less room for the record's own overhead. */
export const KAFKA_RECORD_MAX_BYTES = 1_000_000;
const utf8 = new TextEncoder();

/** One node's view of whether it reaches the in-memory broker (the `outage` test hook). */
class MemoryHealth implements BrokerHealth {
  reachable = true;
  downSince: number | null = null;
  reason: string | null = null;
  readonly #listeners = new Set<(reachable: boolean) => void>();

  onChange(listener: (reachable: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  set(reachable: boolean): void {
    if (reachable === this.reachable) return;
    this.reachable = reachable;
    this.downSince = reachable ? null : Date.now();
    this.reason = reachable ? null : "Connection error: memory broker outage (test)";
    for (const l of [...this.#listeners]) l(reachable);
  }
}

const CLUSTER = Symbol("MemoryBroker.cluster");

/** Logs and groups, shared by every node of one in-memory cluster. */
class Cluster implements GroupHost {
  readonly #logs = new Map<string, InRecord[][]>();
  readonly #groups = new Map<string, Group>();
  #wake = Promise.withResolvers<void>();

  constructor(
    topics: readonly TopicSpec[],
    readonly logger: Logger,
    readonly sessionTimeoutMs: number,
    readonly eager: boolean,
  ) {
    const all = topics.some((t) => t.name === DEAD_LETTER_TOPIC)
      ? topics
      : [...topics, { name: DEAD_LETTER_TOPIC, partitions: 1 }];
    for (const { name, partitions } of all) {
      if (!name) throw new Error("MemoryBroker: a topic needs a name");
      if (!Number.isInteger(partitions) || partitions < 1) {
        throw new RangeError(`MemoryBroker: topic "${name}" needs a positive partition count`);
      }
      if (this.#logs.has(name)) throw new Error(`MemoryBroker: topic "${name}" declared twice`);
      this.#logs.set(name, Array.from({ length: partitions }, () => []));
    }
  }

  #topic(topic: string): InRecord[][] {
    const logs = this.#logs.get(topic);
    if (logs) return logs;
    const known = [...this.#logs.keys()].join(", ");
    throw new Error(`MemoryBroker: unknown topic "${topic}" (declared topics: ${known})`);
  }

  partitions(topic: string): number {
    return this.#topic(topic).length;
  }

  log(topic: string, partition: number): readonly InRecord[] {
    return this.#topic(topic)[partition];
  }

  records(topic: string): readonly InRecord[] {
    return this.#topic(topic).flat();
  }

  append(topic: string, records: readonly OutRecord[]): void {
    const logs = this.#topic(topic);
    for (const { key, value } of records) {
      if (typeof key !== "string" || typeof value !== "string") {
        throw new TypeError(`MemoryBroker: records to "${topic}" need a string key and value`);
      }
    }
    const touched = new Set<number>();
    for (const { key, value } of records) {
      const partition = partitionFor(key, logs.length);
      const log = logs[partition];
      log.push(Object.freeze({ topic, partition, offset: String(log.length), key, value }));
      touched.add(partition);
    }
    for (const group of this.#groups.values()) {
      for (const partition of touched) group.appended(topic, partition);
    }
    this.changed();
  }

  deadLetter(record: InRecord, error: unknown, groupId: string): void {
    const message = error instanceof Error ? error.message : String(error);
    const fields = { group: groupId, topic: record.topic, partition: record.partition, error };
    if (record.topic === DEAD_LETTER_TOPIC) {
      this.logger.error("memory broker: a dead-letter handler failed; record dropped", fields);
      return;
    }
    const { topic, partition, offset, key, value } = record;
    const letter: DeadLetter = { topic, partition, offset, key, value, error: message, groupId };
    this.append(DEAD_LETTER_TOPIC, [{ key, value: JSON.stringify(letter) }]);
    this.logger.warn("memory broker: handler failed; record sent to the dead-letter topic", {
      ...fields,
      offset,
      key,
    });
  }

  group(id: string): Group {
    let group = this.#groups.get(id);
    if (!group) this.#groups.set(id, group = new Group(id, this, this.eager));
    return group;
  }

  committed(groupId: string, topic: string, partition: number): number | undefined {
    return this.#groups.get(groupId)?.committed(topic, partition);
  }

  changed(): void {
    const wake = this.#wake;
    this.#wake = Promise.withResolvers<void>();
    wake.resolve();
  }

  nextChange(): Promise<void> {
    return this.#wake.promise;
  }

  isIdle(): boolean {
    for (const group of this.#groups.values()) if (!group.quiet()) return false;
    return true;
  }
}

export class MemoryBroker implements Broker {
  readonly #cluster: Cluster;
  readonly #members = new Set<Member>();
  readonly #health = new MemoryHealth();
  readonly #maxRecordBytes: number;
  #closing: Promise<void> | null = null;

  constructor(opts: MemoryBrokerOptions) {
    this.#maxRecordBytes = opts.maxRecordBytes ?? KAFKA_RECORD_MAX_BYTES;
    const shared = (opts as { [CLUSTER]?: Cluster })[CLUSTER];
    this.#cluster = shared ??
      new Cluster(
        opts.topics,
        opts.logger ?? createLogger("warn"),
        opts.sessionTimeoutMs ?? 1000,
        opts.eager ?? false,
      );
  }

  get sessionTimeoutMs(): number {
    return this.#cluster.sessionTimeoutMs;
  }

  /** Whether this node reaches the broker (see `outage`). */
  get health(): BrokerHealth {
    return this.#health;
  }

  /** Another node on the same cluster: same topics, logs and groups; its own consumers. */
  connect(): MemoryBroker {
    return new MemoryBroker({
      topics: [],
      maxRecordBytes: this.#maxRecordBytes,
      [CLUSTER]: this.#cluster,
    } as MemoryBrokerOptions);
  }

  partitions(topic: string): number {
    return this.#cluster.partitions(topic);
  }

  // deno-lint-ignore require-await
  async produce(topic: string, records: readonly OutRecord[]): Promise<void> {
    this.#open("produce");
    if (!this.#health.reachable) {
      throw new Error("Connection error: memory broker outage (test); records not taken");
    }
    for (const r of records) {
      // (Cheap first: a string's UTF-8 form is at most 3 bytes per UTF-16 unit.)
      if ((r.key.length + r.value.length) * 3 <= this.#maxRecordBytes) continue;
      const bytes = utf8.encode(r.key).byteLength + utf8.encode(r.value).byteLength;
      if (bytes > this.#maxRecordBytes) {
        throw new Error(
          `The request included a message larger than the max message size the server will ` +
            `accept: ${bytes} bytes to ${topic} (limit ${this.#maxRecordBytes})`,
        );
      }
    }
    this.#cluster.append(topic, records);
  }

  async consume(opts: ConsumeOptions): Promise<Consumer> {
    this.#open("consume");
    if (!opts.groupId) throw new Error("MemoryBroker.consume: groupId is required");
    if (opts.topics.length === 0) throw new Error("MemoryBroker.consume: no topics");
    for (const topic of opts.topics) this.#cluster.partitions(topic);
    const member: Member = this.#cluster.group(opts.groupId).join(
      opts,
      () => this.#members.delete(member),
    );
    this.#members.add(member);
    await member.ready.promise;
    return member;
  }

  /** Stops this node's consumers gracefully (one rebalance per group). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const byGroup = new Map<Group, Member[]>();
      for (const m of this.#members) byGroup.set(m.group, [...byGroup.get(m.group) ?? [], m]);
      await Promise.all([...byGroup].map(([group, members]) => group.leave(members)));
    })();
    return this.#closing;
  }

  // ---- test hooks (not part of Broker) ----

  /** The consumer dies: no onRevoke, its in-flight handlers are ignored, its partitions move. */
  crash(consumer: Consumer): void {
    const member = this.#member(consumer);
    member.group.crash(member);
  }

  /** Stops delivering to the consumer (after its in-flight records) until `resume`. */
  pause(consumer: Consumer): void {
    const member = this.#member(consumer);
    member.group.pause(member, true);
  }

  resume(consumer: Consumer): void {
    const member = this.#member(consumer);
    member.group.pause(member, false);
  }

  /**
   * This node loses (true) or regains (false) the broker: `health` says so at once, `produce`
   * fails, and its consumers receive nothing (they stay members) until it ends.
   */
  outage(down: boolean): void {
    for (const m of this.#members) m.group.pause(m, down);
    this.#health.set(!down);
  }

  /**
   * True when no rebalance is pending and every record of every partition held by an unpaused
   * member has been handled. Records of partitions nobody holds do not count.
   */
  isIdle(): boolean {
    return this.#cluster.isIdle();
  }

  /** Resolves at the next observable change (produce, delivery, commit, rebalance). */
  changed(): Promise<void> {
    return this.#cluster.nextChange();
  }

  /** Resolves once `isIdle()`. Never resolves while a handler stays blocked. */
  async idle(): Promise<void> {
    while (!this.#cluster.isIdle()) await this.#cluster.nextChange();
  }

  /**
   * Resolves with `check()`'s first value that is not undefined, re-checking at every change. Fails
   * at once when the cluster is idle (after one macrotask turn for the test's own promises) and
   * the condition still does not hold; `timeoutMs` only guards against a blocked handler.
   */
  async waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 10_000): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`waitFor ${what}: timed out`)), timeoutMs);
    });
    expired.catch(() => {});
    try {
      for (;;) {
        const value = check();
        if (value !== undefined) return value;
        if (!this.#cluster.isIdle()) {
          await Promise.race([this.#cluster.nextChange(), expired]);
          continue;
        }
        await new Promise((resolve) => setTimeout(resolve, 0));
        const again = check();
        if (again !== undefined) return again;
        if (this.#cluster.isIdle()) {
          throw new Error(`waitFor ${what}: the broker is idle and the condition does not hold`);
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Every record of the topic, partition by partition, in offset order. */
  records(topic: string): readonly InRecord[] {
    return this.#cluster.records(topic);
  }

  /** The group's next offset to consume on the partition (undefined before anyone held it). */
  committed(groupId: string, topic: string, partition: number): number | undefined {
    return this.#cluster.committed(groupId, topic, partition);
  }

  #member(consumer: Consumer): Member {
    if (consumer instanceof Member) return consumer;
    throw new TypeError("MemoryBroker: not a consumer of a MemoryBroker");
  }

  #open(what: string): void {
    if (this.#closing) throw new Error(`MemoryBroker.${what}: this broker is closed`);
  }
}
