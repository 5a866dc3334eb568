/**
 * Creates the cluster's Kafka topics (`deno task kafka:topics`): the topics of
 * `clusterTopics(COMMAND_PARTITIONS)` on `KAFKA_BROKERS`, with the retention of `TOPIC_RETENTION`
 * and `KAFKA_REPLICATION` replicas (default 1). Idempotent: topics that exist are left as they
 * are and reported; an existing topic whose partition count differs from what the engine expects
 * is an error (the engine places actors by `murmur2(key) % partitions`). Run it before the first
 * engine node starts (docker-compose.yml runs it as the one-shot `topics` service).
 *
 * Exit codes: 0 done, 1 Kafka refused or a topic has the wrong partition count, 2 bad settings.
 */
import { type Admin, ConfigResourceTypes, Kafka, logLevel } from "kafkajs";
import { loadConfig } from "../src/config.ts";
import { clusterTopics, TOPICS } from "../src/cluster/topics.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Retention of each topic (`retention.ms`), the one place these numbers live. Commands and replies
 * are transient RPC: a command older than its ask's deadline is dropped unanswered anyway. Events
 * are re-read only by nodes catching up (the chat log itself is in KV). Dead letters wait for
 * someone to look at them. A topic added to `clusterTopics` needs its line here (`topicPlan`
 * refuses a topic without one).
 */
export const TOPIC_RETENTION: Readonly<Record<string, { ms: number; why: string }>> = {
  [TOPICS.commands]: { ms: HOUR, why: "transient RPC; asks time out in seconds" },
  [TOPICS.replies]: { ms: HOUR, why: "transient RPC; asks time out in seconds" },
  [TOPICS.events]: { ms: DAY, why: "hub fan-out; the chat log itself is in KV" },
  [TOPICS.audit]: { ms: 30 * DAY, why: "admin actions for outside consumers; KV keeps them too" },
  [TOPICS.dead]: { ms: 14 * DAY, why: "poison records kept for inspection" },
};

export interface TopicPlan {
  readonly topic: string;
  readonly partitions: number;
  readonly replication: number;
  readonly configs: Record<string, string>;
}

/** What should exist on the brokers for `commandPartitions` and `replication`. */
export function topicPlan(commandPartitions: number, replication: number): TopicPlan[] {
  return clusterTopics(commandPartitions).map((t) => {
    const retention = TOPIC_RETENTION[t.name];
    if (!retention) throw new Error(`No retention set for topic ${t.name} in TOPIC_RETENTION`);
    return {
      topic: t.name,
      partitions: t.partitions,
      replication,
      configs: {
        "cleanup.policy": "delete",
        "retention.ms": String(retention.ms),
        // With 3+ replicas an acknowledged write survives one broker's loss.
        "min.insync.replicas": replication >= 3 ? "2" : "1",
      },
    };
  });
}

export interface TopicReport {
  readonly topic: string;
  readonly status: "created" | "exists" | "wrong_partitions";
  /** Partitions on the brokers (after creation). */
  readonly partitions: number;
  readonly expected: number;
  /** Existing topics only: configs that differ from the plan (null when they could not be read). */
  readonly drift: Record<string, { actual: string; planned: string }> | null;
}

/** Creates the missing topics of the plan and reports on every topic. */
export async function ensureTopics(
  admin: Admin,
  plan: readonly TopicPlan[],
): Promise<TopicReport[]> {
  const before = new Set(await admin.listTopics());
  const missing = plan.filter((t) => !before.has(t.topic));
  if (missing.length > 0) {
    // false = they exist already (another run raced us): fine, reported as existing below.
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((t) => ({
        topic: t.topic,
        numPartitions: t.partitions,
        replicationFactor: t.replication,
        configEntries: Object.entries(t.configs).map(([name, value]) => ({ name, value })),
      })),
    });
  }
  const meta = await admin.fetchTopicMetadata({ topics: plan.map((t) => t.topic) });
  const counts = new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
  const existing = plan.filter((t) => before.has(t.topic));
  const drift = await configDrift(admin, existing);
  return plan.map((t) => {
    const partitions = counts.get(t.topic) ?? 0;
    const status = partitions !== t.partitions
      ? "wrong_partitions"
      : before.has(t.topic)
      ? "exists"
      : "created";
    return {
      topic: t.topic,
      status,
      partitions,
      expected: t.partitions,
      drift: before.has(t.topic) ? drift.get(t.topic) ?? null : {},
    };
  });
}

/** Planned configs that existing topics have set otherwise (left as they are; reported). */
async function configDrift(
  admin: Admin,
  topics: readonly TopicPlan[],
): Promise<Map<string, Record<string, { actual: string; planned: string }>>> {
  const out = new Map<string, Record<string, { actual: string; planned: string }>>();
  if (topics.length === 0) return out;
  try {
    const res = await admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((t) => ({
        type: ConfigResourceTypes.TOPIC,
        name: t.topic,
        configNames: Object.keys(t.configs),
      })),
    });
    for (const r of res.resources) {
      const plan = topics.find((t) => t.topic === r.resourceName);
      if (!plan || r.errorCode !== 0) continue;
      const diff: Record<string, { actual: string; planned: string }> = {};
      for (const e of r.configEntries) {
        const planned = plan.configs[e.configName];
        if (planned !== undefined && e.configValue !== planned) {
          diff[e.configName] = { actual: e.configValue, planned };
        }
      }
      out.set(plan.topic, diff);
    }
  } catch { /* not every broker answers DescribeConfigs; drift stays unknown (null) */ }
  return out;
}

/** One line per topic, for people. */
export function renderReport(reports: readonly TopicReport[], plan: readonly TopicPlan[]): string {
  const w = Math.max(...reports.map((r) => r.topic.length));
  return reports.map((r) => {
    const p = plan.find((t) => t.topic === r.topic)!;
    const retention = `retention.ms=${p.configs["retention.ms"]}`;
    const head = `${r.topic.padEnd(w)}  ${r.partitions} partition${r.partitions === 1 ? "" : "s"}`;
    if (r.status === "created") {
      return `${"created".padEnd(17)}${head}, replication ${p.replication}, ${retention}`;
    }
    if (r.status === "wrong_partitions") {
      return `${"WRONG PARTITIONS".padEnd(17)}${head}; the engine expects ${r.expected}` +
        (r.topic === TOPICS.commands || r.topic === TOPICS.events ? " (COMMAND_PARTITIONS)" : "");
    }
    const drift = r.drift === null
      ? "; configs not readable"
      : Object.entries(r.drift).map(([k, v]) => `; ${k}=${v.actual} (planned ${v.planned})`)
        .join("");
    return `${"already there".padEnd(17)}${head}${drift}`;
  }).join("\n");
}

export async function main(env: Record<string, string | undefined>): Promise<number> {
  let config;
  try {
    config = loadConfig(env);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return 2;
  }
  const brokers = config.KAFKA_BROKERS.split(",").map((b) => b.trim()).filter(Boolean);
  if (brokers.length === 0) {
    console.error("error: KAFKA_BROKERS is not set (host:port,...)");
    return 2;
  }
  const rf = Number(env.KAFKA_REPLICATION ?? "1");
  if (!Number.isInteger(rf) || rf < 1) {
    console.error(`error: KAFKA_REPLICATION must be a whole number >= 1 (got ${rf})`);
    return 2;
  }
  const plan = topicPlan(config.COMMAND_PARTITIONS, rf);
  const kafka = new Kafka({
    clientId: "chat-engine-topics",
    brokers,
    logLevel: logLevel.ERROR,
    retry: { retries: 8, initialRetryTime: 300 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const reports = await ensureTopics(admin, plan);
    console.log(renderReport(reports, plan));
    return reports.some((r) => r.status === "wrong_partitions") ? 1 : 0;
  } catch (e) {
    console.error(`error: Kafka at ${brokers.join(",")}: ${(e as Error).message}`);
    return 1;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main(Deno.env.toObject()));
