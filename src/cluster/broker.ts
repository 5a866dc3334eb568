/**
 * The broker interface the cluster runs on (docs/CLUSTER.md): keyed produce, and consumption with
 * consumer-group membership and callbacks for assignment and revocation. Two implementations:
 * `MemoryBroker` (partitions, groups and rebalances simulated in one process, for tests) and
 * `KafkaBroker` (kafkajs). `tests/cluster/broker_contract.ts` runs against both.
 */

import type { BrokerHealth } from "./reachability.ts";

/** One partition of one topic. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** A record to produce. The partition is murmur2(key) % partitions, as Kafka's default. */
export interface OutRecord {
  readonly key: string;
  readonly value: string;
}

/** A consumed record. Within a partition, records arrive in offset order, one at a time. */
export interface InRecord {
  readonly topic: string;
  readonly partition: number;
  /** Kafka offsets are 64-bit; kept as a decimal string. */
  readonly offset: string;
  readonly key: string;
  readonly value: string;
}

export interface ConsumeOptions {
  /** Consumers with the same group id share the topics' partitions; other groups get every record. */
  readonly groupId: string;
  readonly topics: readonly string[];
  /**
   * Where a group with no committed offset starts: the earliest record (true) or only records
   * produced after it joined (false, the default).
   */
  readonly fromBeginning?: boolean;
  /**
   * Partitions newly given to this member. Called after the group settles and before any record
   * of those partitions reaches `onMessage`; the broker waits for the returned promise.
   */
  readonly onAssign?: (partitions: readonly TopicPartition[]) => Promise<void> | void;
  /**
   * Partitions taken away from this member on a graceful rebalance (another member joined or left,
   * or this one stops). No record of those partitions reaches `onMessage` after this is called; the
   * broker waits for the returned promise before the partitions move. A member that dies or is
   * expelled gets no call (its successor is fenced in KV, not by the broker).
   */
  readonly onRevoke?: (partitions: readonly TopicPartition[]) => Promise<void> | void;
  /**
   * Handles one record. The record's offset is committed after the promise resolves. When it
   * throws, the record goes to the dead-letter topic (`deadLetterTopic`, with the error) and
   * consumption goes on; nothing stops on a poison message.
   */
  readonly onMessage: (record: InRecord) => Promise<void> | void;
  /**
   * The member stopped for good after it had joined: its client gave up (a crash it does not
   * restart from). It holds nothing and takes nothing from then on, so the node cannot do its
   * part; the server stops the process for its supervisor to restart (src/server/server.ts).
   */
  readonly onFatal?: (error: Error) => void;
}

/** A group member. */
export interface Consumer {
  /** Partitions this member holds now. */
  readonly assignment: readonly TopicPartition[];
  /** Records left to handle by partition, as of each one's last fetched batch (Kafka only). */
  readonly lag?: ReadonlyMap<number, number>;
  /** Leaves the group gracefully: waits for in-flight `onMessage`, calls `onRevoke`, commits. */
  stop(): Promise<void>;
}

export interface Broker {
  /** Partition count of a topic (topics are created up front with known counts). */
  partitions(topic: string): number;
  /**
   * How long the group takes to expel a member that stopped without leaving (Kafka: the session
   * timeout). A new owner waits at most this long for the old owner's hand-over (ownership.ts).
   */
  readonly sessionTimeoutMs?: number;
  /** Whether this client can reach the broker now (`reachability.ts`); absent = always. */
  readonly health?: BrokerHealth;
  /** Produces records keyed; resolves when the broker has acknowledged all of them. */
  produce(topic: string, records: readonly OutRecord[]): Promise<void>;
  /** Joins a group and resolves once this member has its first assignment. */
  consume(opts: ConsumeOptions): Promise<Consumer>;
  /** Stops every consumer gracefully (draining in-flight work) and then the producer. */
  close(): Promise<void>;
}

/** A topic and its partition count. */
export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
}

/** Where poison records go: the original key and value, and headers naming the error. */
export const DEAD_LETTER_TOPIC = "chat.dead";

/** The dead-letter record's value: the original record and why it failed. */
export interface DeadLetter {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string;
  readonly value: string;
  readonly error: string;
  readonly groupId: string;
}
