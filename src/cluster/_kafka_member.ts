/**
 * One consumer-group member of the kafkajs broker (`KafkaBroker.consume()`): turns kafkajs's group
 * joins into `onAssign`/`onRevoke`, handles records in order per partition, commits handled
 * offsets on an interval, dead-letters poison records, and stops gracefully. See kafka_broker.ts.
 */
import type { Admin, Consumer as KafkaConsumer, EachBatchPayload, KafkaMessage } from "kafkajs";
import type { Logger } from "../log.ts";
import {
  type ConsumeOptions,
  type Consumer,
  DEAD_LETTER_TOPIC,
  type DeadLetter,
  type InRecord,
  type TopicPartition,
} from "./broker.ts";
import type { KafkaBrokerOptions } from "./kafka_broker.ts";
import { isConnectionFailure, type Reachability } from "./reachability.ts";

export const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;
export const byTopicPartition = (a: TopicPartition, b: TopicPartition) =>
  a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;

export function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** A refusal that says this member must re-join before its commits can be taken. */
const STALE_MEMBER =
  /not aware of this member|UNKNOWN_MEMBER_ID|not the current generation|generation id is not valid|ILLEGAL_GENERATION|REBALANCE_IN_PROGRESS|rebalanc/i;
/** Longest pause of the commit timer after such a refusal, in case no re-join is seen (ms). */
const COMMIT_HOLD_MS = 5_000;
/** Refused re-joins in a row a member answers with a new kafkajs consumer before it gives up. */
const REJOIN_ATTEMPTS = 5;

/**
 * A join refused with an error kafkajs does not restart from (it crashes the consumer for good)
 * but that a new member gets past: INVALID_REQUEST to a SyncGroup that reached the coordinator
 * after the group had settled without it. Real brokers accept a late follower's SyncGroup;
 * librdkafka's mock (2.0.2, rdkafka_mock_cgrp.c) answers INVALID_REQUEST once the leader's
 * SyncGroup has completed the group, which a busy process meets now and then.
 *
 * The refusal may come wrapped: when kafkajs's retrier gives up on it, the consumer crashes with a
 * KafkaJSNonRetriableError whose `cause` is the protocol error (seen in the suite: a node that took
 * the wrapped one for fatal exited before it listened). So the causes are looked through, a few deep.
 */
export function joinRefused(e: unknown): boolean {
  for (let depth = 0; depth < 5 && e; depth++) {
    if ((e as { type?: string }).type === "INVALID_REQUEST") return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** What a member needs from its broker. */
export interface MemberHost {
  readonly log: Logger;
  readonly options: KafkaBrokerOptions;
  /** Where connection failures are counted instead of logged (reachability.ts). */
  readonly reachability?: Reachability;
  forget(member: KafkaMember): void;
  newConsumer(groupId: string): KafkaConsumer;
  sendDeadLetter(letter: DeadLetter): Promise<void>;
  admin(): Promise<Admin>;
}

/** One group member: a kafkajs consumer plus the assignment bookkeeping described above. */
export class KafkaMember implements Consumer {
  readonly #broker: MemberHost;
  readonly #opts: ConsumeOptions;
  readonly #log: Logger;
  #consumer: KafkaConsumer;
  /** Times in a row the group refused a re-join this member then retried (`#onCrash`). */
  #rejoins = 0;
  #memberId: string | null = null;
  /** What the application has been told it holds (onAssign done, onRevoke not yet called). */
  readonly #held = new Map<string, TopicPartition>();
  /**
   * Last offset handled per held partition. A commit refused by a rebalance makes kafkajs fetch
   * the record again even when this member keeps the partition; it is then skipped (and committed)
   * rather than handled twice. Forgotten when the partition is revoked.
   */
  readonly #handled = new Map<string, bigint>();
  readonly lag = new Map<number, number>();
  /** Handled offsets not committed yet, by partition (the commit timer takes them). */
  readonly #uncommitted = new Map<string, { topic: string; partition: number; offset: bigint }>();
  #commitTimer: ReturnType<typeof setInterval> | null = null;
  #committing: Promise<void> | null = null;
  /**
   * A commit refused because this member is no longer the group's (expelled, or a rebalance
   * started): the timer stops trying until the member has re-joined (or this time has passed),
   * rather than sending a refused commit every tick.
   */
  #commitsHeldUntil = 0;
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

  constructor(broker: MemberHost, opts: ConsumeOptions) {
    this.#broker = broker;
    this.#opts = opts;
    this.#log = broker.log;
    this.#consumer = broker.newConsumer(opts.groupId);
    this.#listen();
    // A consume() that never gets its first assignment must not leave an unhandled rejection.
    this.#joined.promise.catch(() => {});
  }

  #listen(): void {
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
  }

  get assignment(): readonly TopicPartition[] {
    return [...this.#held.values()].sort(byTopicPartition);
  }

  /** Connects the kafkajs consumer, subscribes and starts its runner (which joins the group). */
  async #run(): Promise<void> {
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
  }

  /**
   * The group refused this member's re-join with an error kafkajs does not restart from but a new
   * member gets past (`joinRefused`): a fresh kafkajs consumer joins in its place. Everything held
   * was revoked by the crash; the new member is assigned afresh.
   */
  async #rejoin(): Promise<void> {
    for (const off of this.#unsubscribe.splice(0)) off();
    await this.#consumer.disconnect().catch(() => {});
    if (this.#stopping) return;
    this.#consumer = this.#broker.newConsumer(this.#opts.groupId);
    this.#listen();
    try {
      await this.#run();
    } catch (e) {
      this.#log.error("kafka: a new member could not join", {
        group: this.#opts.groupId,
        error: errorText(e),
      });
      if (!this.#stopping) this.#opts.onFatal?.(e instanceof Error ? e : new Error(String(e)));
    }
  }

  async start(): Promise<void> {
    const o = this.#broker.options;
    await this.#run();
    this.#commitTimer = setInterval(() => {
      if (Date.now() >= this.#commitsHeldUntil) void this.#commitHandled();
    }, o.commitIntervalMs ?? 100);
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
    this.#commitsHeldUntil = 0;
    this.#rejoins = 0;
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

  /**
   * A failure worth an error line, unless it is the brokers being unreachable: then it is counted
   * by the broker's reachability (which logs once per outage) instead.
   */
  #trouble(msg: string, fields: Record<string, unknown>, error: unknown): void {
    const health = this.#broker.reachability;
    if (health && isConnectionFailure(error)) health.failed(`${msg}: ${errorText(error)}`);
    else if (!health?.quiet()) this.#log.error(msg, { ...fields, error: errorText(error) });
  }

  #onCrash(payload: { error: Error; groupId: string; restart: boolean }): void {
    this.#trouble("kafka: consumer crashed", {
      group: payload.groupId,
      restart: payload.restart,
    }, payload.error);
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
    if (
      !payload.restart && this.#hasJoined && !this.#stopping && joinRefused(payload.error) &&
      this.#rejoins < REJOIN_ATTEMPTS
    ) {
      this.#rejoins++;
      this.#log.warn("kafka: the group refused this member's re-join; joining as a new member", {
        group: payload.groupId,
        attempt: this.#rejoins,
      });
      void this.#rejoin();
      return;
    }
    if (!payload.restart) {
      this.#joined.reject(payload.error);
      // Before the first assignment `start()` rejects instead; after it, only this tells anyone.
      if (this.#hasJoined && !this.#stopping) this.#opts.onFatal?.(payload.error);
    }
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
      this.#trouble("kafka: could not pin start offsets", { group }, e);
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
      const stale = STALE_MEMBER.test(errorText(e));
      if (stale) this.#commitsHeldUntil = Date.now() + COMMIT_HOLD_MS;
      this.#log.debug("kafka: offset commit refused; retried later", {
        group: this.#opts.groupId,
        error: errorText(e),
        after: stale ? "re-join" : "next tick",
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
        this.lag.set(batch.partition, Number(BigInt(batch.highWatermark) - offset - 1n));
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
        this.#trouble("kafka: dead-letter produce failed", {
          group: this.#opts.groupId,
          topic: letter.topic,
          partition: letter.partition,
          offset: letter.offset,
          attempt,
        }, e);
        // Not committing leaves the record to be delivered again (here or to the next owner).
        if (this.#stopping) throw e;
        await new Promise((r) => setTimeout(r, Math.min(30_000, 250 * 2 ** attempt)));
      }
    }
  }
}
