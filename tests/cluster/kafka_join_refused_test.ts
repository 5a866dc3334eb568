/**
 * Which consumer crashes a member answers by joining again as a new member (`joinRefused`):
 * librdkafka's mock refuses a late SyncGroup with INVALID_REQUEST, which kafkajs reports either
 * as the protocol error itself or, once its retrier gives up, wrapped in a non-retriable error
 * (the form that made kafka_outage_test's node 2 exit before it listened). Real kafkajs errors.
 */
import assert from "node:assert/strict";
import kafkajs from "kafkajs";
import { joinRefused } from "../../src/cluster/_kafka_member.ts";

// (CommonJS: its errors are spread into `module.exports`, which Deno gives as the default only.)
const { KafkaJSNonRetriableError, KafkaJSProtocolError } = kafkajs;

/** kafkajs's protocol error as its decoder builds it (the typings leave out its fields). */
const protocolError = (type: string, code: number) =>
  new KafkaJSProtocolError(
    Object.assign(new Error(`protocol error ${type}`), { type, code, retriable: false }),
  );
const refused = () => protocolError("INVALID_REQUEST", 42);
/** What kafkajs's retrier throws for a non-retriable failure (kafkajs/src/retry/index.js). */
const NonRetriable = KafkaJSNonRetriableError as unknown as new (
  e: Error,
  o: { cause: unknown },
) => Error;
const giveUp = (e: Error & { cause?: unknown }) => new NonRetriable(e, { cause: e.cause || e });

Deno.test("a SyncGroup refused with INVALID_REQUEST is a join refusal, bare or wrapped by the retrier", () => {
  assert.equal(joinRefused(refused()), true);
  const wrapped = giveUp(refused());
  assert.equal(joinRefused(wrapped), true);
  assert.equal(joinRefused(giveUp(wrapped)), true);
});

Deno.test("other failures are not join refusals", () => {
  const other = protocolError("GROUP_AUTHORIZATION_FAILED", 30);
  assert.equal(joinRefused(other), false);
  assert.equal(joinRefused(giveUp(other)), false);
  assert.equal(joinRefused(new Error("boom")), false);
  assert.equal(joinRefused(null), false);
  assert.equal(joinRefused(undefined), false);
  // A cycle of causes ends.
  const a = new Error("a") as Error & { cause?: unknown };
  a.cause = a;
  assert.equal(joinRefused(a), false);
});
