/**
 * Bot, LLM brain against a local fake OpenAI-compatible server: a good answer is used; 500, 429,
 * a timeout, a body or an answer that is not the asked JSON, and a full line all fall back to
 * the offline matcher, and the log says why. The key goes only into the Authorization header.
 */
import assert from "node:assert/strict";
import { Brain } from "../../src/integrations/bot/brain.ts";
import { loadKnowledge } from "../../src/integrations/bot/knowledge.ts";
import { LlmClient, LlmError } from "../../src/integrations/bot/llm.ts";
import { Matcher } from "../../src/integrations/bot/matcher.ts";
import { type Logger, recordingLogger } from "../../src/log.ts";
import { ManualClock, SystemClock } from "../../src/runtime/clock.ts";
import { botJson, FakeLlm } from "./_bot_fake_llm.ts";
import { type LogLine, SAMPLE_KNOWLEDGE } from "./_bot_util.ts";
import { z } from "zod";

const knowledge = await loadKnowledge(SAMPLE_KNOWLEDGE);
const KEY = "sk-test-secret-key-123";

function setup(fake: FakeLlm, opts: { clock?: ManualClock; timeoutMs?: number } = {}) {
  const logs: LogLine[] = [];
  const log: Logger = recordingLogger((level, msg, fields) => {
    if (level === "warn" || level === "error") logs.push({ level, msg, fields });
  });
  const llm = new LlmClient(
    { url: fake.url, apiKey: KEY, model: "test-model", timeoutMs: opts.timeoutMs ?? 5_000 },
    { clock: opts.clock ?? new SystemClock(), maxInFlight: 2 },
  );
  const brain = new Brain({
    knowledge,
    matcher: new Matcher(knowledge),
    minConfidence: 0.4,
    llm,
    log,
  });
  return { brain, llm, logs };
}

Deno.test("llm brain: a good answer is used as is; the request carries model, Bearer key, knowledge and the recent turns", async () => {
  await using fake = new FakeLlm();
  fake.script({
    kind: "answer",
    content: botJson("returns", 0.82, "Send it back within 30 days.", ["Talk to a human"]),
  });
  const { brain, logs } = setup(fake);
  const a = await brain.answer("can I send back shoes?", [
    { role: "user", text: "hello" },
    { role: "assistant", text: "Hi! How can I help?" },
  ]);
  assert.deepEqual(a, {
    intent: "returns",
    confidence: 0.82,
    text: "Send it back within 30 days.",
    quickReplies: ["Talk to a human"],
    escalate: false,
    source: "llm",
  });
  const [req] = fake.requests;
  assert.equal(req.path, "/v1/chat/completions");
  assert.equal(req.authorization, `Bearer ${KEY}`);
  assert.equal(req.body.model, "test-model");
  assert.deepEqual(req.body.response_format, { type: "json_object" });
  const [system, ...rest] = req.body.messages;
  assert.equal(system.role, "system");
  // The whole knowledge file is the context: intents, answers and quick replies.
  for (const i of knowledge.intents) {
    assert.ok(system.content.includes(JSON.stringify(i.answers[0]).slice(1, -1)), i.name);
  }
  assert.ok(system.content.includes('"escalate":true'));
  assert.deepEqual(rest, [
    { role: "user", content: "hello" },
    { role: "assistant", content: "Hi! How can I help?" },
    { role: "user", content: "can I send back shoes?" },
  ]);
  assert.deepEqual(logs, []);
  assert.deepEqual(brain.counters, { llm: 1, matcher: 0, llmFailures: {} });
});

Deno.test("llm brain: an answer with the escalating intent asks for a human; a fenced or duplicated answer is read", async () => {
  await using fake = new FakeLlm();
  fake.script(
    { kind: "answer", content: "```json\n" + botJson("human", 0.9, "Connecting you.") + "\n```" },
    { kind: "duplicate", content: botJson("opening_hours", 0.7, "Nine to six.") },
  );
  const { brain } = setup(fake);
  const human = await brain.answer("can I speak with someone?", []);
  assert.equal(human.escalate, true);
  assert.equal(human.text, "Connecting you.");
  const dup = await brain.answer("when do you open", []);
  assert.equal(dup.text, "Nine to six.");
  assert.equal(dup.source, "llm");
});

Deno.test("llm brain: 500, 429, a body that is not JSON and an answer outside the schema fall back to the matcher, saying why", async () => {
  await using fake = new FakeLlm();
  fake.script(
    { kind: "status", status: 500 },
    { kind: "status", status: 429 },
    { kind: "raw", body: "<html>gateway</html>" },
    { kind: "answer", content: "Sure! We open at nine." },
    { kind: "answer", content: botJson("opening_hours", 7, "x") },
    { kind: "raw", body: JSON.stringify({ choices: [] }) },
  );
  const { brain, logs } = setup(fake);
  const hours = knowledge.intents.find((i) => i.name === "opening_hours")!;
  for (let i = 0; i < 6; i++) {
    const a = await brain.answer("What are your opening hours?", []);
    assert.equal(a.source, "matcher");
    assert.equal(a.intent, "opening_hours");
    assert.equal(a.text, hours.answers[0]);
  }
  assert.equal(fake.requests.length, 6);
  assert.deepEqual(
    logs.map((l) => l.fields.reason),
    ["http_error", "rate_limited", "bad_json", "bad_json", "invalid_answer", "invalid_answer"],
  );
  assert.ok(logs.every((l) => l.msg === "bot: LLM failed, answering offline"));
  // The key is never in a log line.
  assert.ok(!JSON.stringify(logs).includes(KEY));
  assert.deepEqual(brain.counters.llmFailures, {
    http_error: 1,
    rate_limited: 1,
    bad_json: 2,
    invalid_answer: 2,
  });
});

Deno.test("llm brain: no answer within the timeout (on the injected clock) falls back to the matcher", async () => {
  await using fake = new FakeLlm({ kind: "hang" });
  const clock = new ManualClock();
  const { brain, logs } = setup(fake, { clock, timeoutMs: 3_000 });
  const pending = brain.answer("track my order", []);
  await fake.received(1);
  await clock.advance(2_999);
  assert.equal(logs.length, 0, "still waiting before the timeout");
  await clock.advance(1);
  const a = await pending;
  assert.equal(a.source, "matcher");
  assert.equal(a.intent, "order_status");
  assert.equal(logs[0].fields.reason, "timeout");
  assert.equal(clock.pending, 0, "no timer left behind");
});

Deno.test("llm client: at most maxInFlight requests at once, a bounded line behind them, then busy", async () => {
  await using fake = new FakeLlm({ kind: "hang" });
  const clock = new ManualClock();
  const llm = new LlmClient(
    { url: fake.url, model: "m", timeoutMs: 1_000 },
    { clock, maxInFlight: 2, maxWaiting: 1 },
  );
  const Any = z.object({});
  const calls = [1, 2, 3].map(() => llm.completeJson([{ role: "user", content: "x" }], Any));
  const outcomes = calls.map((p) => p.then(() => "ok", (e: LlmError) => e.reason));
  await fake.received(2);
  // The fourth finds two in flight and one waiting.
  await assert.rejects(llm.completeJson([], Any), (e: LlmError) => e.reason === "busy");
  assert.equal(fake.requests.length, 2, "the third waits for a slot");
  assert.equal(fake.requests[0].authorization, null, "no key configured, no header");
  await clock.advance(1_000); // the first two time out; the third gets a slot
  await fake.received(3);
  llm.close(); // shutdown: the one in flight fails at once
  assert.deepEqual(await Promise.all(outcomes), ["timeout", "timeout", "closed"]);
  await assert.rejects(llm.completeJson([], Any), (e: LlmError) => e.reason === "closed");
});
