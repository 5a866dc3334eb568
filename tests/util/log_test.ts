/**
 * The logger: JSON lines with whole errors (stack and causes) under one field name, the request
 * or connection context on every line logged inside it, and repeated warnings summarised.
 */
import assert from "node:assert/strict";
import { createLogger, withLogContext, withoutLogContext } from "../../src/log.ts";
import { ManualClock } from "../../src/runtime/clock.ts";

function capture(level: "debug" | "info" | "warn" | "error" = "debug", clock = new ManualClock(0)) {
  // deno-lint-ignore no-explicit-any -- parsed JSON lines, read field by field
  const lines: Array<Record<string, any>> = [];
  const log = createLogger(level, {
    write: (line) => lines.push(JSON.parse(line)),
    clock,
  });
  return { lines, log, clock };
}

function fail(): Error {
  try {
    throw new Error("disk full", { cause: new TypeError("ENOSPC") });
  } catch (e) {
    return e as Error;
  }
}

Deno.test("log: an error is logged with its stack and cause, under err whatever the field was called", () => {
  const { lines, log } = capture();
  log.error("snapshot failed", { error: fail(), actor: "session/1" });
  log.warn("retrying", { err: new RangeError("too far"), other: new Error("second") });
  const [a, b] = lines;
  assert.equal(a.level, "error");
  assert.equal(a.msg, "snapshot failed");
  assert.equal(a.actor, "session/1");
  assert.equal(a.error, undefined);
  assert.equal(a.err.type, "Error");
  assert.match(a.err.stack, /disk full\n\s+at fail \(.*log_test\.ts/);
  assert.equal(a.err.cause.type, "TypeError");
  assert.equal(a.err.cause.message, "ENOSPC");
  assert.ok(typeof a.time === "string" && !Number.isNaN(Date.parse(a.time)));
  assert.equal(b.err.type, "RangeError");
  assert.equal(b.other.message, "second", "a second error is serialised, not {}");
  assert.match(b.other.stack, /Error: second/);
});

Deno.test("log: values keep every character (quotes, newlines, Unicode)", () => {
  const { lines, log } = capture();
  log.info("label", { value: 'say "hi"\nто\u202egnp.exe', n: 3, nested: { a: [1, "x"] } });
  assert.equal(lines[0].value, 'say "hi"\nто\u202egnp.exe');
  assert.deepEqual(lines[0].nested, { a: [1, "x"] });
});

Deno.test("log: below the level nothing is written; with() binds fields", () => {
  const { lines, log } = capture("warn");
  log.debug("no");
  log.info("no");
  log.with({ node: "n1" }).warn("yes", { partition: 3 });
  assert.deepEqual(lines.map((l) => [l.msg, l.node, l.partition]), [["yes", "n1", 3]]);
});

Deno.test("log: lines logged inside a request carry its id, across awaits, and nested contexts add up", async () => {
  const { lines, log } = capture();
  await withLogContext({ request_id: "r-1" }, async () => {
    await Promise.resolve();
    log.info("routed");
    await withLogContext({ connection_id: "c-9" }, async () => {
      await new Promise((r) => setTimeout(r, 0));
      log.with({ actor: "queue" }).warn("slow");
    });
  });
  log.info("outside");
  assert.deepEqual(lines.map((l) => [l.msg, l.request_id, l.connection_id, l.actor]), [
    ["routed", "r-1", undefined, undefined],
    ["slow", "r-1", "c-9", "queue"],
    ["outside", undefined, undefined, undefined],
  ]);
});

Deno.test("log: an error repeated 50 times a second is 3 lines and one summary per window", async () => {
  const { lines, log, clock } = capture("debug", new ManualClock(0));
  for (let i = 0; i < 50; i++) {
    // The text differs by broker port and attempt: still the same error.
    log.error("kafka send failed", {
      err: new Error(`Connection error: connect ECONNREFUSED 127.0.0.1:${9092 + (i % 3)} #${i}`),
      partition: i % 4,
    });
    await clock.advance(20);
  }
  log.error("another failure", { err: new Error("x") });
  assert.equal(lines.filter((l) => l.msg === "kafka send failed").length, 3);
  assert.equal(lines.filter((l) => l.msg === "another failure").length, 1);
  await clock.advance(10_000); // the window ends: its count is written without waiting for another
  const summary = lines.filter((l) => l.msg === "kafka send failed (repeated)");
  assert.equal(summary.length, 1);
  assert.equal(summary[0].repeated, 47);
  assert.equal(summary[0].level, "error");
  assert.equal(summary[0].partition, 49 % 4, "the last one's fields");
  assert.match(summary[0].err.message, /ECONNREFUSED/);
  // A new window writes the next ones again.
  log.error("kafka send failed", { err: new Error("Connection error: connect ECONNREFUSED 1:2") });
  assert.equal(lines.filter((l) => l.msg === "kafka send failed").length, 4);
  // Info lines are never summarised.
  for (let i = 0; i < 10; i++) log.info("tick");
  assert.equal(lines.filter((l) => l.msg === "tick").length, 10);
  log.close();
});

Deno.test("log: close writes what a window still counts and leaves no timer behind", () => {
  const { lines, log, clock } = capture();
  for (let i = 0; i < 5; i++) log.warn("flaky", { err: new Error("timeout") });
  assert.equal(clock.pending, 1);
  log.close();
  assert.equal(clock.pending, 0);
  assert.deepEqual(lines.map((l) => [l.msg, l.repeated]), [
    ["flaky", undefined],
    ["flaky", undefined],
    ["flaky", undefined],
    ["flaky (repeated)", 2],
  ]);
});

Deno.test("log: work started outside the context (a shared loop) carries no caller's id", async () => {
  const { lines, log } = capture();
  let loop: Promise<void> = Promise.resolve();
  await withLogContext({ request_id: "r-first" }, async () => {
    // Started by the first caller, the loop then serves everyone: it must not carry r-first.
    loop = withoutLogContext(async () => {
      await Promise.resolve();
      log.info("batch");
    });
    log.info("asked");
    await loop;
  });
  assert.deepEqual(lines.map((l) => [l.msg, l.request_id]), [
    ["asked", "r-first"],
    ["batch", undefined],
  ]);
});
