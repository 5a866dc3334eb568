/**
 * The consumer lag behind `chat_kafka_consumer_lag`: a kafkajs member (on librdkafka's mock
 * cluster, NOT a real broker) reports, per partition, the records fetched but not yet handled,
 * as of each record it finishes; a member held up on one record shows the rest as lag.
 */
import assert from "node:assert/strict";
import { KafkaBroker } from "../../src/cluster/kafka_broker.ts";
import { silentLogger } from "../../src/log.ts";
import { startKafkaMock } from "../kafka_mock/mock.ts";

const TOPIC = { name: "lag.test", partitions: 1 };

Deno.test({
  name: "kafka lag: records behind the one being handled count as lag, and 0 once all are handled",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using mock = await startKafkaMock([TOPIC]);
    const broker = new KafkaBroker({
      brokers: mock.brokers,
      clientId: `lag-${crypto.randomUUID()}`,
      topics: [TOPIC],
      logger: silentLogger,
      sessionTimeoutMs: 3_000,
      heartbeatIntervalMs: 300,
      maxWaitTimeMs: 100,
    });
    try {
      await broker.produce(
        TOPIC.name,
        Array.from({ length: 10 }, (_, i) => ({ key: "k", value: `v${i}` })),
      );
      const gate = Promise.withResolvers<void>();
      const lagSeen: Array<number | undefined> = [];
      let handled = 0;
      const done = Promise.withResolvers<void>();
      const consumer = await broker.consume({
        groupId: `lag-group-${crypto.randomUUID()}`,
        topics: [TOPIC.name],
        fromBeginning: true,
        onMessage: async () => {
          if (handled === 0) await gate.promise;
          // What the member reported after the previous record.
          lagSeen.push(consumer.lag?.get(0));
          if (++handled === 10) done.resolve();
        },
      });
      gate.resolve();
      await done.promise;
      assert.equal(lagSeen[0], undefined, "nothing handled yet");
      assert.equal(lagSeen[1], 9, "one of ten handled: nine behind");
      assert.equal(lagSeen[9], 1);
      // The last record's own report lands right after its handler returns.
      const end = Date.now() + 10_000;
      while (consumer.lag?.get(0) !== 0 && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(consumer.lag?.get(0), 0);
      await consumer.stop();
    } finally {
      await broker.close();
    }
  },
});
