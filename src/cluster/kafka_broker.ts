/**
 * `Broker` on Apache Kafka through kafkajs (npm:kafkajs@2.2.4), running under Deno's Node compat.
 *
 * Producing: keyed records go through kafkajs's `Partitioners.DefaultPartitioner` (the Java
 * client's murmur2, the same as `partitionFor` in ./murmur2.ts), with acks=-1; `produce` resolves
 * once every record is acknowledged. Retries back off exponentially (kafkajs `retry`).
 *
 * Consuming: one kafkajs consumer per `consume()` (one group member). Records are handled with
 * `eachBatch`, one at a time per partition in offset order (different partitions may run
 * concurrently, `partitionsConsumedConcurrently`); each record's offset is resolved after its
 * handler resolves and committed every `commitIntervalMs` and before every re-join or stop. A
 * handler that throws sends the record to `DEAD_LETTER_TOPIC` and its offset is resolved like any
 * other; the consumer goes on.
 *
 * Assignment callbacks: kafkajs has no rebalance listener. Its eager protocol works like this: when
 * a rebalance starts, the runner stops fetching, lets in-flight batches finish, commits, and
 * re-joins; after SyncGroup it emits `GROUP_JOIN` with the new `memberAssignment`. We diff that
 * with the previous assignment: `onRevoke(lost)` then `onAssign(gained)`, serialized on one chain,
 * and no batch is handled until the chain has caught up. Consequences (kafkajs limits, not ours):
 *  - `onRevoke` runs after this member re-joined, i.e. when the new owner is also being told, not
 *    strictly before the partitions move; what holds is that this member delivered its last record
 *    of them (and committed) before it re-joined, so no record of a revoked partition reaches
 *    `onMessage` here after `onRevoke`. The engine fences successors in KV anyway.
 *  - a member that was expelled (new member id after UNKNOWN_MEMBER_ID) or whose kafkajs consumer
 *    crashed is treated as having lost everything: `onRevoke(all)`, late, then `onAssign` afresh.
 *  - an offset commit refused because a rebalance started (the record was handled) means the record
 *    is delivered again to the next owner: at-least-once. (A member that keeps the partition
 *    remembers its last handled offset and skips the refetched record instead of handling it twice.)
 * `stop()` is graceful: it pauses fetching, waits for in-flight handlers, calls `onRevoke` for
 * everything held while still a member, then leaves the group (LeaveGroup) and disconnects.
 *
 * `fromBeginning: false`: kafkajs resolves "latest" lazily, at the first fetch after the join, which
 * races with records produced right after `consume()` resolves. So when a member gains a partition
 * that has no committed offset in the group, it reads the partition's high watermark before
 * `onAssign` and seeks there (kafkajs commits a seek): "the group starts here", and later owners
 * start from a committed offset. (If the partition moves before that commit lands, the next owner
 * starts at its own "latest": records produced in between are skipped, as with any Kafka client
 * using auto.offset.reset=latest.)
 *
 * Deno compat: kafkajs works unmodified over `node:net`, `node:events` and Buffer; no shim needed.
 * One cosmetic wart: its request queue (`scheduleCheckPendingRequests`) calls
 * `setTimeout(fn, throttledUntil - Date.now())` with `throttledUntil = -1` when nothing is pending,
 * a negative delay that Deno's `node:timers` runs as 1 ms and reports once per process as
 * "TimeoutNegativeWarning: -17… is a negative number" on stderr. Harmless; left alone rather than
 * silencing process warnings globally.
 */
import {
  type Admin,
  type Consumer as KafkaConsumer,
  type EachBatchPayload,
  type IHeaders,
  Kafka,
  type KafkaMessage,
  type LogEntry,
  logLevel as KafkaJsLevel,
  Partitioners,
  type Producer,
  type RetryOptions,
} from "kafkajs";
import type { Logger } from "../log.ts";
import { silentLogger } from "../log.ts";
import {
  type Broker,
  type ConsumeOptions,
  type Consumer,
  DEAD_LETTER_TOPIC,
  type DeadLetter,
  type InRecord,
  type OutRecord,
  type TopicPartition,
  type TopicSpec,
} from "./broker.ts";

export type KafkaLogLevel = "error" | "warn" | "info" | "debug";

/** Exponential backoff for kafkajs's retries (producer, consumer, admin, connections). */
export interface KafkaRetryOptions {
  /** First delay (default 100 ms). */
  readonly initialRetryTimeMs?: number;
  /** Largest delay (default 10 000 ms). */
  readonly maxRetryTimeMs?: number;
  /** Retries before giving up (default 8). */
  readonly retries?: number;
  /** Growth per retry (default 2). */
  readonly multiplier?: number;
  /** Randomization, ±factor (default 0.2). */
  readonly factor?: number;
}

export interface KafkaBrokerOptions {
  /** Bootstrap servers, `host:port`. */
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Topics and partition counts (created up front; this class never creates topics). */
  readonly topics: readonly TopicSpec[];
  /** Where kafkajs's and this class's logs go (default: silent). */
  readonly logger?: Logger;
  /** kafkajs's own log level, mapped onto `logger` (default "warn"). */
  readonly kafkaLogLevel?: KafkaLogLevel;
  /** Group session timeout (default 30 000 ms). On librdkafka's mock a rebalance waits this - 1 s. */
  readonly sessionTimeoutMs?: number;
  /** Heartbeat interval (default 3 000 ms; keep it well under the session timeout). */
  readonly heartbeatIntervalMs?: number;
  /** How long the group waits for members to re-join in a rebalance (default 60 000 ms). */
  readonly rebalanceTimeoutMs?: number;
  /** Longest a fetch waits for data (default 1 000 ms; also bounds how fast `stop()` is). */
  readonly maxWaitTimeMs?: number;
  /** Partitions handled concurrently per member, each still in order (default 4). */
  readonly partitionsConsumedConcurrently?: number;
  /**
   * Handled offsets are committed at most this often (and on every rebalance and stop), not after
   * each record: a commit is a broker round trip, and one per record capped a node at ~200
   * records/s. Default 100 ms. A crash redelivers at most this much (at-least-once).
   */
  readonly commitIntervalMs?: number;
  /** How long `consume()` waits for the first assignment before failing (default 60 000 ms). */
  readonly joinTimeoutMs?: number;
  readonly connectionTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly retry?: KafkaRetryOptions;
}

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;
const byTopicPartition = (a: TopicPartition, b: TopicPartition) =>
  a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** kafkajs chatter that is part of every rebalance, not a problem: logged at info at most. */
const ROUTINE =
  /rebalanc|not the current generation|generation id is not valid|ILLEGAL_GENERATION|REBALANCE_IN_PROGRESS/i;

function kafkaLogCreator(logger: Logger) {
  return (_level: KafkaJsLevel) => (entry: LogEntry) => {
    const { message, timestamp: _t, logger: _l, stack, ...rest } = entry.log;
    const fields: Record<string, unknown> = { ns: entry.namespace, ...rest };
    let level: KafkaLogLevel = entry.level === KafkaJsLevel.ERROR
      ? "error"
      : entry.level === KafkaJsLevel.WARN
      ? "warn"
      : entry.level === KafkaJsLevel.INFO
      ? "info"
      : "debug";
    const routine = ROUTINE.test(String(message)) || ROUTINE.test(String(rest.error ?? ""));
    if (routine && (level === "error" || level === "warn")) level = "info";
    if (level === "debug" && stack) fields.stack = stack;
    logger[level](`kafkajs: ${message}`, fields);
  };
}

const LEVELS: Record<KafkaLogLevel, KafkaJsLevel> = {
  error: KafkaJsLevel.ERROR,
  warn: KafkaJsLevel.WARN,
  info: KafkaJsLevel.INFO,
  debug: KafkaJsLevel.DEBUG,
};

export class KafkaBroker implements Broker {
  readonly #kafka: Kafka;
  readonly #log: Logger;
  readonly #partitions = new Map<string, number>();
  readonly #opts: KafkaBrokerOptions;
  readonly #retry: RetryOptions;
  readonly #members = new Set<KafkaMember>();
  #producer: Promise<Producer> | null = null;
  #admin: Promise<Admin> | null = null;
  #closed: Promise<void> | null = null;

  constructor(opts: KafkaBrokerOptions) {
    this.#opts = opts;
    this.#log = opts.logger ?? silentLogger;
    for (const t of opts.topics) this.#partitions.set(t.name, t.partitions);
    const r = opts.retry ?? {};
    this.#retry = {
      initialRetryTime: r.initialRetryTimeMs ?? 100,
      maxRetryTime: r.maxRetryTimeMs ?? 10_000,
      retries: r.retries ?? 8,
      multiplier: r.multiplier ?? 2,
      factor: r.factor ?? 0.2,
    };
    this.#kafka = new Kafka({
      clientId: opts.clientId,
      brokers: [...opts.brokers],
      logLevel: LEVELS[opts.kafkaLogLevel ?? "warn"],
      logCreator: kafkaLogCreator(this.#log),
      retry: this.#retry,
      connectionTimeout: opts.connectionTimeoutMs ?? 3_000,
      requestTimeout: opts.requestTimeoutMs ?? 30_000,
    });
  }

  partitions(topic: string): number {
    const n = this.#partitions.get(topic);
    if (n === undefined) throw new Error(`unknown topic ${topic}`);
    return n;
  }

  async produce(topic: string, records: readonly OutRecord[]): Promise<void> {
    this.#assertOpen();
    this.partitions(topic);
    if (records.length === 0) return;
    await this.#send(topic, records.map((r) => ({ key: r.key, value: r.value })));
  }

  async consume(opts: ConsumeOptions): Promise<Consumer> {
    this.#assertOpen();
    if (!opts.groupId) throw new Error("KafkaBroker.consume: groupId is required");
    if (opts.topics.length === 0) throw new Error("KafkaBroker.consume: no topics");
    for (const t of opts.topics) this.partitions(t);
    const member = new KafkaMember(this, opts);
    this.#members.add(member);
    try {
      await member.start();
    } catch (e) {
      this.#members.delete(member);
      await member.stop().catch(() => {});
      throw e;
    }
    return member;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.all([...this.#members].map((m) => m.stop()));
      const producer = this.#producer;
      const admin = this.#admin;
      this.#producer = this.#admin = null;
      await Promise.all([
        producer?.then((p) => p.disconnect(), () => {}),
        admin?.then((a) => a.disconnect(), () => {}),
      ]);
      this.#log.info("kafka: closed", { clientId: this.#opts.clientId });
    })();
    return this.#closed;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("KafkaBroker: this broker is closed");
  }

  // ----- used by KafkaMember -----

  /** @internal */
  get log(): Logger {
    return this.#log;
  }

  /** @internal */
  get options(): KafkaBrokerOptions {
    return this.#opts;
  }

  /** @internal */
  forget(member: KafkaMember): void {
    this.#members.delete(member);
  }

  /** @internal */
  newConsumer(groupId: string): KafkaConsumer {
    const o = this.#opts;
    return this.#kafka.consumer({
      groupId,
      sessionTimeout: o.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: o.heartbeatIntervalMs ?? 3_000,
      rebalanceTimeout: o.rebalanceTimeoutMs ?? 60_000,
      maxWaitTimeInMs: o.maxWaitTimeMs ?? 1_000,
      allowAutoTopicCreation: false,
      // Restart after any retriable crash (the member re-joins); `KafkaMember` logs it.
      retry: { ...this.#retry, restartOnFailure: () => Promise.resolve(true) },
    });
  }

  /** @internal Produces with acks=-1, through the default (murmur2) partitioner. */
  async #send(
    topic: string,
    messages: { key: string; value: string; headers?: IHeaders }[],
  ): Promise<void> {
    const producer = await this.#getProducer();
    await producer.send({ topic, acks: -1, messages });
  }

  /** @internal */
  sendDeadLetter(letter: DeadLetter): Promise<void> {
    return this.#send(DEAD_LETTER_TOPIC, [{
      key: letter.key,
      value: JSON.stringify(letter),
      headers: {
        "x-error": letter.error,
        "x-topic": letter.topic,
        "x-partition": String(letter.partition),
        "x-offset": letter.offset,
        "x-group-id": letter.groupId,
      },
    }]);
  }

  /** @internal */
  admin(): Promise<Admin> {
    if (!this.#admin) {
      const admin = this.#kafka.admin({ retry: this.#retry });
      const p = admin.connect().then(() => admin);
      p.catch(() => {
        if (this.#admin === p) this.#admin = null;
      });
      this.#admin = p;
    }
    return this.#admin;
  }

  #getProducer(): Promise<Producer> {
    if (!this.#producer) {
      const producer = this.#kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
        retry: this.#retry,
      });
      const p = producer.connect().then(() => producer);
      p.catch(() => {
        if (this.#producer === p) this.#producer = null;
      });
      this.#producer = p;
    }
    return this.#producer;
  }
}

/** One group member: a kafkajs consumer plus the assignment bookkeeping described above. */
class KafkaMember implements Consumer {
  readonly #broker: KafkaBroker;
  readonly #opts: ConsumeOptions;
  readonly #log: Logger;
  readonly #consumer: KafkaConsumer;
  #memberId: string | null = null;
  /** What the application has been told it holds (onAssign done, onRevoke not yet called). */
  readonly #held = new Map<string, TopicPartition>();
  /**
   * Last offset handled per held partition. A commit refused by a rebalance makes kafkajs fetch
   * the record again even when this member keeps the partition; it is then skipped (and committed)
   * rather than handled twice. Forgotten when the partition is revoked.
   */
  readonly #handled = new Map<string, bigint>();
  /** Handled offsets not committed yet, by partition (the commit timer takes them). */
  readonly #uncommitted = new Map<string, { topic: string; partition: number; offset: bigint }>();
  #commitTimer: ReturnType<typeof setInterval> | null = null;
  #committing: Promise<void> | null = null;
  /** Start offsets chosen for partitions the group had no offset for (`#pinStart`). */
  readonly #pins = new Map<string, string>();
  /** Assignment callbacks, serialized; batches wait for it. */
  #chain: Promise<void> = Promise.resolve();
  #joined = Promise.withResolvers<void>();
  #hasJoined = false;
  #stopping = false;
  #stopped: Promise<void> | null = null;
  #active = 0;
  #idle: PromiseWithResolvers<void> | null = null;
  readonly #unsubscribe: (() => void)[] = [];

  constructor(broker: KafkaBroker, opts: ConsumeOptions) {
    this.#broker = broker;
    this.#opts = opts;
    this.#log = broker.log;
    this.#consumer = broker.newConsumer(opts.groupId);
    const events = this.#consumer.events;
    this.#unsubscribe.push(
      this.#consumer.on(events.GROUP_JOIN, (e) => this.#onGroupJoin(e.payload)),
      this.#consumer.on(events.REBALANCING, (e) =>
        this.#log.info("kafka: group rebalancing", {
          group: e.payload.groupId,
          member: e.payload.memberId,
        })),
      this.#consumer.on(events.CRASH, (e) => this.#onCrash(e.payload)),
    );
    // A consume() that never gets its first assignment must not leave an unhandled rejection.
    this.#joined.promise.catch(() => {});
  }

  get assignment(): readonly TopicPartition[] {
    return [...this.#held.values()].sort(byTopicPartition);
  }

  async start(): Promise<void> {
    const o = this.#broker.options;
    await this.#consumer.connect();
    await this.#consumer.subscribe({
      topics: [...this.#opts.topics],
      fromBeginning: this.#opts.fromBeginning ?? false,
    });
    await this.#consumer.run({
      partitionsConsumedConcurrently: o.partitionsConsumedConcurrently ?? 4,
      // kafkajs's auto-commit also commits after every batch (one round trip per record when
      // batches are small); handled offsets are committed by `#commitHandled` instead.
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.#eachBatch(payload),
    });
    this.#commitTimer = setInterval(() => void this.#commitHandled(), o.commitIntervalMs ?? 100);
    const timeoutMs = o.joinTimeoutMs ?? 60_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.#joined.promise,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `kafka: no assignment for group ${this.#opts.groupId} after ${timeoutMs} ms`,
                ),
              ),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    const group = this.#opts.groupId;
    try {
      // No new batches while we drain (a paused consumer keeps heartbeating, so it stays a member).
      try {
        this.#consumer.pause(this.#opts.topics.map((topic) => ({ topic })));
      } catch { /* not running (never started, or crashed) */ }
      await this.#drained();
      if (this.#commitTimer !== null) clearInterval(this.#commitTimer);
      await this.#commitHandled(); // still a member: the next owner starts after these
      await this.#enqueue(async () => {
        const all = [...this.#held.values()].sort(byTopicPartition);
        this.#held.clear();
        this.#handled.clear();
        if (all.length) await this.#callback("onRevoke", all);
      });
    } finally {
      if (this.#commitTimer !== null) clearInterval(this.#commitTimer);
      for (const off of this.#unsubscribe) off();
      await this.#consumer.disconnect().catch((e) =>
        this.#log.warn("kafka: consumer disconnect failed", { group, error: errorText(e) })
      );
      this.#joined.reject(new Error("consumer stopped"));
      this.#broker.forget(this);
      this.#log.info("kafka: member stopped", { group, member: this.#memberId });
    }
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(step).catch((e) =>
      this.#log.error("kafka: assignment step failed", {
        group: this.#opts.groupId,
        error: errorText(e),
      })
    );
    this.#chain = next;
    return next;
  }

  async #callback(which: "onAssign" | "onRevoke", parts: TopicPartition[]): Promise<void> {
    const fn = this.#opts[which];
    this.#log.info(`kafka: ${which === "onAssign" ? "assigned" : "revoked"}`, {
      group: this.#opts.groupId,
      member: this.#memberId,
      partitions: parts.map((p) => `${p.topic}/${p.partition}`).join(","),
    });
    if (!fn) return;
    try {
      await fn(parts);
    } catch (e) {
      this.#log.error(`kafka: ${which} threw`, { group: this.#opts.groupId, error: errorText(e) });
    }
  }

  #onGroupJoin(payload: { memberId: string; memberAssignment: Record<string, number[]> }): void {
    const next = new Map<string, TopicPartition>();
    for (const topic of this.#opts.topics) {
      for (const partition of payload.memberAssignment[topic] ?? []) {
        next.set(tpKey(topic, partition), { topic, partition });
      }
    }
    // A new member id means the coordinator forgot us (session expired): nothing carried over.
    const expelled = this.#memberId !== null && this.#memberId !== payload.memberId;
    if (expelled) {
      this.#log.warn("kafka: re-joined as a new member; everything held is revoked", {
        group: this.#opts.groupId,
        was: this.#memberId,
        now: payload.memberId,
      });
    }
    this.#memberId = payload.memberId;
    // Diff against what the application holds (not what kafkajs said last), inside the chain, so
    // crashes, expulsions and back-to-back rebalances all reduce to "revoke lost, assign fresh".
    this.#enqueue(async () => {
      if (this.#stopping) return; // stop() revokes everything held itself
      const lost = [...this.#held].filter(([k]) => expelled || !next.has(k));
      if (lost.length) {
        for (const [k] of lost) {
          this.#held.delete(k);
          this.#handled.delete(k);
          this.#uncommitted.delete(k);
        }
        await this.#callback("onRevoke", lost.map(([, tp]) => tp).sort(byTopicPartition));
      }
      const fresh = [...next].filter(([k]) => !this.#held.has(k)).map(([, tp]) => tp);
      if (!this.#opts.fromBeginning) {
        for (const k of this.#pins.keys()) if (!next.has(k)) this.#pins.delete(k);
        const pin = [...next].filter(([k]) => !this.#held.has(k) || this.#pins.has(k));
        if (pin.length) await this.#pinStart(pin.map(([, tp]) => tp));
      }
      if (fresh.length) {
        fresh.sort(byTopicPartition);
        await this.#callback("onAssign", fresh);
        for (const tp of fresh) this.#held.set(tpKey(tp.topic, tp.partition), tp);
      }
      if (!this.#hasJoined) {
        this.#hasJoined = true;
        this.#joined.resolve();
      }
    });
  }

  #onCrash(payload: { error: Error; groupId: string; restart: boolean }): void {
    this.#log.error("kafka: consumer crashed", {
      group: payload.groupId,
      error: errorText(payload.error),
      restart: payload.restart,
    });
    // kafkajs has disconnected (left the group): whatever we held is gone.
    this.#memberId = null;
    this.#enqueue(async () => {
      if (this.#stopping) return; // stop() revokes everything held itself
      const all = [...this.#held.values()].sort(byTopicPartition);
      this.#held.clear();
      this.#handled.clear();
      this.#pins.clear();
      if (all.length) await this.#callback("onRevoke", all);
    });
    if (!payload.restart) this.#joined.reject(payload.error);
  }

  /**
   * `fromBeginning: false` and the group has no committed offset for a partition: start it at the
   * high watermark read now (before `onAssign`, so before `consume()` resolves), by `seek`, which
   * kafkajs applies (and commits) at its next fetch. The offset is remembered while this member
   * holds the partition, and sought again after a rebalance if the group still has no offset (the
   * seek's commit can be refused by that rebalance). See the file doc.
   */
  async #pinStart(parts: TopicPartition[]): Promise<void> {
    const group = this.#opts.groupId;
    try {
      const admin = await this.#broker.admin();
      const topics = [...new Set(parts.map((p) => p.topic))];
      const committed = await admin.fetchOffsets({ groupId: group, topics });
      const ends = new Map<string, Promise<{ partition: number; high: string }[]>>();
      const pinned: string[] = [];
      for (const { topic, partitions } of committed) {
        for (const { partition, offset } of partitions) {
          const key = tpKey(topic, partition);
          if (!parts.some((tp) => tp.topic === topic && tp.partition === partition)) continue;
          if (Number(offset) >= 0) {
            this.#pins.delete(key);
            continue;
          }
          let at = this.#pins.get(key);
          if (at === undefined) {
            if (!ends.has(topic)) ends.set(topic, admin.fetchTopicOffsets(topic));
            at = (await ends.get(topic)!).find((e) => e.partition === partition)?.high;
            if (at === undefined) continue;
            this.#pins.set(key, at);
          }
          this.#consumer.seek({ topic, partition, offset: at });
          pinned.push(`${topic}/${partition}@${at}`);
        }
      }
      if (pinned.length) {
        this.#log.debug("kafka: new group starts at the end", { group, at: pinned.join(",") });
      }
    } catch (e) {
      this.#log.warn("kafka: could not pin start offsets", { group, error: errorText(e) });
    }
  }

  async #drained(): Promise<void> {
    while (this.#active > 0) {
      this.#idle ??= Promise.withResolvers<void>();
      await this.#idle.promise;
    }
  }

  /**
   * Commits the offsets handled since the last commit, one request for all partitions. A commit
   * refused (e.g. by a rebalance) is not retried for partitions this member no longer holds: their
   * next owner redelivers those records (at-least-once; handlers are idempotent by seq, id or
   * deadline).
   */
  #commitHandled(): Promise<void> {
    if (this.#committing || this.#uncommitted.size === 0) {
      return this.#committing ?? Promise.resolve();
    }
    const batch = [...this.#uncommitted.entries()];
    this.#uncommitted.clear();
    this.#committing = this.#consumer.commitOffsets(
      batch.map(([, o]) => ({
        topic: o.topic,
        partition: o.partition,
        offset: (o.offset + 1n).toString(),
      })),
    ).catch((e) => {
      for (const [key, o] of batch) {
        const newer = this.#uncommitted.get(key);
        if (this.#held.has(key) && (!newer || newer.offset < o.offset)) {
          this.#uncommitted.set(key, o);
        }
      }
      this.#log.debug("kafka: offset commit refused; retried at the next tick", {
        group: this.#opts.groupId,
        error: errorText(e),
      });
    }).finally(() => this.#committing = null);
    return this.#committing;
  }

  async #eachBatch(p: EachBatchPayload): Promise<void> {
    const { batch } = p;
    this.#active++;
    try {
      await this.#chain; // onRevoke/onAssign for the current assignment have completed
      const key = tpKey(batch.topic, batch.partition);
      for (const message of batch.messages) {
        if (this.#stopping || !p.isRunning() || p.isStale() || !this.#held.has(key)) break;
        const offset = BigInt(message.offset);
        const last = this.#handled.get(key);
        if (last === undefined || offset > last) {
          await this.#handle(batch.topic, batch.partition, message);
          if (this.#held.has(key)) {
            this.#handled.set(key, offset);
            this.#uncommitted.set(key, { topic: batch.topic, partition: batch.partition, offset });
          }
        } else {
          this.#log.debug("kafka: skipping a refetched record this member already handled", {
            group: this.#opts.groupId,
            topic: batch.topic,
            partition: batch.partition,
            offset: message.offset,
          });
        }
        p.resolveOffset(message.offset);
        await p.heartbeat();
      }
    } finally {
      this.#active--;
      if (this.#active === 0 && this.#idle) {
        this.#idle.resolve();
        this.#idle = null;
      }
    }
  }

  async #handle(topic: string, partition: number, m: KafkaMessage): Promise<void> {
    const record: InRecord = {
      topic,
      partition,
      offset: m.offset,
      key: m.key?.toString() ?? "",
      value: m.value?.toString() ?? "",
    };
    try {
      await this.#opts.onMessage(record);
      return;
    } catch (e) {
      if (topic === DEAD_LETTER_TOPIC) {
        // Never dead-letter a dead letter (that could loop); log it and move on.
        this.#log.error("kafka: a dead-letter handler failed; record dropped", {
          group: this.#opts.groupId,
          partition,
          offset: m.offset,
          error: errorText(e),
        });
        return;
      }
      const error = e instanceof Error ? e.message : String(e);
      const letter: DeadLetter = { ...record, error, groupId: this.#opts.groupId };
      this.#log.warn("kafka: handler failed; record goes to the dead-letter topic", {
        group: this.#opts.groupId,
        topic,
        partition,
        offset: m.offset,
        key: record.key,
        error: letter.error,
      });
      await this.#deadLetter(letter);
    }
  }

  /** Produces the dead letter, retrying until it is acknowledged; throws only when stopping. */
  async #deadLetter(letter: DeadLetter): Promise<void> {
    for (let attempt = 1;; attempt++) {
      try {
        await this.#broker.sendDeadLetter(letter);
        return;
      } catch (e) {
        this.#log.error("kafka: dead-letter produce failed", {
          group: this.#opts.groupId,
          topic: letter.topic,
          partition: letter.partition,
          offset: letter.offset,
          attempt,
          error: errorText(e),
        });
        // Not committing leaves the record to be delivered again (here or to the next owner).
        if (this.#stopping) throw e;
        await new Promise((r) => setTimeout(r, Math.min(30_000, 250 * 2 ** attempt)));
      }
    }
  }
}
