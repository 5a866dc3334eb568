/**
 * The cluster's topics (docs/CLUSTER.md has the table: key, partitions, retention, producers,
 * consumers, and the seed's topic each one stands for) and where an actor lives.
 */
import type { ActorAddress } from "../runtime/entity.ts";
import { DEAD_LETTER_TOPIC, type TopicSpec } from "./broker.ts";
import { partitionFor } from "./murmur2.ts";

export const TOPICS = {
  /** Commands for actors owned by another node; key = actor key; the owner's group reads it. */
  commands: "chat.commands",
  /** Replies to remote asks; key = asking node id; every node reads all of it. */
  replies: "chat.replies",
  /** Hub operations after each commit; key = chat id (queue name); every node reads all of it. */
  events: "chat.events",
  /** Audit records (seed 000's `admin_actions`); key = chat id; for consumers outside. */
  audit: "chat.audit",
  dead: DEAD_LETTER_TOPIC,
} as const;

/** Consumer group of the command owners: its partition assignment is actor placement. */
export const OWNER_GROUP = "chat-engine";

export function clusterTopics(commandPartitions: number): TopicSpec[] {
  return [
    { name: TOPICS.commands, partitions: commandPartitions },
    { name: TOPICS.replies, partitions: 4 },
    { name: TOPICS.events, partitions: commandPartitions },
    { name: TOPICS.audit, partitions: 1 },
    { name: TOPICS.dead, partitions: 1 },
  ];
}

/**
 * An actor's key: the chat id for sessions, the operator id for operators, the queue name for
 * queues, the client id for clients. The entity type is not part of it (Kafka's key is the id).
 */
export const actorKey = (address: ActorAddress): string => address.id;

/** The partition of `chat.commands` (and so the node) that owns an actor. */
export const partitionOf = (address: ActorAddress, partitions: number): number =>
  partitionFor(actorKey(address), partitions);
