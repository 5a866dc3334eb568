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
 * A join the group refuses with INVALID_REQUEST (kafkajs crashes the consumer for good) is tried
 * again with a new member, 5 times at most: `consume()` for the first join, the member itself for a
 * re-join (`joinRefused` in _kafka_member.ts; librdkafka's mock answers a late SyncGroup so).
 *
 * Reachability (`reachability.ts`, docs/CLUSTER.md "Kafka outage"): every answered request
 * (kafkajs's `network.request` instrumentation event of the producer, the admin and each consumer,
 * and every acknowledged produce) says the brokers are reachable; every connection failure (a
 * refused, reset, closed or timed-out connection, in kafkajs's log entries, crash events, request
 * timeouts and rejected produces) says they may not be. `health` turns unreachable after 500 ms of
 * failures without an answer and reachable again at the first answer, logging each change once.
 * kafkajs's own log lines about connections are counted there instead of logged (it writes one per
 * retry, per client and per broker: dozens a second in an outage), and while unreachable so are
 * its other errors and warnings, which are consequences of the outage.
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
  type IHeaders,
  Kafka,
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
  type OutRecord,
  type TopicSpec,
} from "./broker.ts";
import { joinRefused, KafkaMember } from "./_kafka_member.ts";
import { errorChain, isConnectionFailure, Reachability } from "./reachability.ts";

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

/**
 * kafkajs chatter that is part of every rebalance (or of re-joining after an expulsion), not a
 * problem: logged at info at most.
 */
const ROUTINE =
  /rebalanc|not the current generation|generation id is not valid|ILLEGAL_GENERATION|REBALANCE_IN_PROGRESS|not aware of this member|UNKNOWN_MEMBER_ID/i;

/**
 * kafkajs's log entries onto our logger. Connection failures go to `health` (counted, not
 * logged); while the brokers are unreachable, kafkajs's other errors and warnings are counted too.
 */
export function kafkaLogCreator(logger: Logger, health?: Reachability) {
  return (_level: KafkaJsLevel) => (entry: LogEntry) => {
    const { message, timestamp: _t, logger: _l, stack, ...rest } = entry.log;
    if (health) {
      const text = `${message} ${rest.error ?? ""}`;
      if (isConnectionFailure(text)) {
        health.failed(`kafkajs: ${message}`);
        return;
      }
      if (entry.level <= KafkaJsLevel.WARN && health.quiet()) return;
    }
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

/** Members `consume()` starts before it gives up on a join the group keeps refusing. */
const JOIN_ATTEMPTS = 5;

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
  readonly #health: Reachability;
  #producer: Promise<Producer> | null = null;
  #admin: Promise<Admin> | null = null;
  #closed: Promise<void> | null = null;

  constructor(opts: KafkaBrokerOptions) {
    this.#opts = opts;
    this.#log = opts.logger ?? silentLogger;
    this.#health = new Reachability({ log: this.#log, what: "Kafka" });
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
      logCreator: kafkaLogCreator(this.#log, this.#health),
      retry: this.#retry,
      connectionTimeout: opts.connectionTimeoutMs ?? 3_000,
      requestTimeout: opts.requestTimeoutMs ?? 30_000,
    });
  }

  /** Whether the brokers answer (see the file doc). */
  get health(): Reachability {
    return this.#health;
  }

  get sessionTimeoutMs(): number {
    return this.#opts.sessionTimeoutMs ?? 30_000;
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
    for (let attempt = 1;; attempt++) {
      const member = new KafkaMember(this, opts);
      this.#members.add(member);
      try {
        await member.start();
        return member;
      } catch (e) {
        this.#members.delete(member);
        await member.stop().catch(() => {});
        if (attempt >= JOIN_ATTEMPTS || this.#closed || !joinRefused(e)) throw e;
        this.#log.warn("kafka: the group refused this member's join; joining as a new member", {
          group: opts.groupId,
          attempt,
          error: e instanceof Error ? e.message : String(e),
        });
      }
    }
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
      this.#health.close();
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
  get reachability(): Reachability {
    return this.#health;
  }

  /** @internal */
  forget(member: KafkaMember): void {
    this.#members.delete(member);
  }

  /** @internal */
  newConsumer(groupId: string): KafkaConsumer {
    const o = this.#opts;
    const consumer = this.#kafka.consumer({
      groupId,
      sessionTimeout: o.sessionTimeoutMs ?? 30_000,
      heartbeatInterval: o.heartbeatIntervalMs ?? 3_000,
      rebalanceTimeout: o.rebalanceTimeoutMs ?? 60_000,
      maxWaitTimeInMs: o.maxWaitTimeMs ?? 1_000,
      allowAutoTopicCreation: false,
      // Restart after any retriable crash (the member re-joins); `KafkaMember` logs it.
      retry: { ...this.#retry, restartOnFailure: () => Promise.resolve(true) },
    });
    this.#watch(consumer, consumer.events);
    return consumer;
  }

  /** Answers and request timeouts of one kafkajs client feed `health`. */
  #watch(
    client: { on(event: string, fn: (e: { payload: unknown }) => void): unknown },
    events: { REQUEST: string; REQUEST_TIMEOUT: string },
  ): void {
    client.on(events.REQUEST, () => this.#health.succeeded());
    client.on(events.REQUEST_TIMEOUT, (e) => {
      const p = e.payload as { broker?: string; apiName?: string };
      this.#health.failed(`request timed out: ${p.apiName ?? "?"} to ${p.broker ?? "?"}`);
    });
  }

  /** @internal Produces with acks=-1, through the default (murmur2) partitioner. */
  async #send(
    topic: string,
    messages: { key: string; value: string; headers?: IHeaders }[],
  ): Promise<void> {
    const producer = await this.#getProducer().catch((err) => {
      if (isConnectionFailure(err)) this.#health.failed(`producer: ${errorChain(err)}`);
      throw err;
    });
    try {
      await producer.send({ topic, acks: -1, messages });
    } catch (err) {
      if (isConnectionFailure(err)) this.#health.failed(`produce: ${errorChain(err)}`);
      throw err;
    }
    this.#health.succeeded();
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
      this.#watch(admin, admin.events);
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
      this.#watch(producer, producer.events);
      const p = producer.connect().then(() => producer);
      p.catch(() => {
        if (this.#producer === p) this.#producer = null;
      });
      this.#producer = p;
    }
    return this.#producer;
  }
}
