/** Bot: the knowledge file loads from JSON and YAML; a broken one stops the start with a clear error. */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { loadKnowledge, parseKnowledge } from "../../src/integrations/bot/knowledge.ts";
import { Matcher } from "../../src/integrations/bot/matcher.ts";
import { SAMPLE_KNOWLEDGE, startBotServer } from "./_bot_util.ts";

const SMALL_YAML = `
welcome:
  answer: Hello from YAML
  quick_replies: [Opening hours]
fallback:
  answer: "Sorry?"
handoff:
  answer: Passing you on
intents:
  - name: opening_hours
    examples:
      - opening hours
      - when are you open
    answers:
      - We open at nine.
    quick_replies: [Talk to a human]
  - name: human
    escalate: true
    examples: [talk to a human, operator]
    answers: [One moment.]
`;

async function withFile<T>(name: string, text: string, fn: (path: string) => Promise<T>) {
  const dir = await Deno.makeTempDir({ prefix: "knowledge-" });
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, text);
  try {
    return await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("knowledge: the shipped sample loads, every quick reply leads to an intent, one intent escalates", async () => {
  const k = await loadKnowledge(SAMPLE_KNOWLEDGE);
  assert.ok(k.intents.length >= 8);
  assert.ok(k.welcome && k.fallback.answer && k.handoff.answer);
  assert.deepEqual(k.intents.filter((i) => i.escalate).map((i) => i.name), ["human"]);
  const m = new Matcher(k);
  const replies = [...k.intents.flatMap((i) => i.quick_replies), ...k.fallback.quick_replies];
  for (const r of replies) assert.equal(m.match(r).confidence, 1, r);
});

Deno.test("knowledge: a YAML file (.yaml or .yml) loads with defaults filled in", async () => {
  for (const name of ["k.yaml", "k.yml"]) {
    const k = await withFile(name, SMALL_YAML, loadKnowledge);
    assert.equal(k.welcome?.answer, "Hello from YAML");
    assert.deepEqual(k.fallback.quick_replies, []);
    assert.equal(k.intents[0].escalate, false);
    assert.equal(k.intents[1].escalate, true);
    assert.equal(new Matcher(k).match("When are you open?").intent?.name, "opening_hours");
  }
});

Deno.test("knowledge: the sample written as YAML loads to the same knowledge as the JSON", async () => {
  const json = await loadKnowledge(SAMPLE_KNOWLEDGE);
  const raw = JSON.parse(await Deno.readTextFile(SAMPLE_KNOWLEDGE));
  const yaml = await withFile("sample.yaml", stringify(raw), loadKnowledge);
  assert.deepEqual(yaml, json);
});

Deno.test("knowledge: every kind of broken file is refused with the file and the problem named", async () => {
  const base = JSON.parse(await Deno.readTextFile(SAMPLE_KNOWLEDGE));
  const broken = (edit: (k: typeof base) => void) => {
    const k = structuredClone(base);
    edit(k);
    return JSON.stringify(k);
  };
  const cases: Array<[string, string, RegExp]> = [
    ["k.json", "{ not json", /k\.json: not valid JSON/],
    ["k.yaml", "intents: [unclosed", /k\.yaml: not valid YAML/],
    ["k.json", "[]", /k\.json: .*expected object/],
    ["k.json", broken((k) => delete k.handoff), /handoff: /],
    ["k.json", broken((k) => (k.intents[0].examples = [])), /intents\.0\.examples: /],
    ["k.json", broken((k) => (k.intents[0].name = "Bad Name")), /intents\.0\.name: lower-case/],
    ["k.json", broken((k) => (k.intents[1].name = k.intents[0].name)), /defined twice/],
    ["k.json", broken((k) => (k.intents[0].name = "fallback")), /reserved/],
    [
      "k.json",
      broken((k) => k.intents[0].quick_replies.push("Fly me to the moon")),
      /intent greeting: quick reply "Fly me to the moon" is not an example of any intent/,
    ],
    ["k.json", broken((k) => (k.intents[0].examples = ["?!"])), /has no words/],
  ];
  for (const [name, text, expected] of cases) {
    await withFile(name, text, async (path) => {
      await assert.rejects(loadKnowledge(path), (err: Error) => {
        assert.match(err.message, new RegExp(`^Knowledge file ${path}`));
        assert.match(err.message, expected);
        return true;
      });
    });
  }
  assert.throws(() => parseKnowledge("{}", "x.json"), /x\.json: fallback: .*intents: /);
});

Deno.test("knowledge: a server with the bot on does not start with a missing or broken file", async () => {
  await assert.rejects(
    startBotServer({ BOT_MODE: "waiting", BOT_KNOWLEDGE_FILE: "/nonexistent/knowledge.json" }),
    /Knowledge file \/nonexistent\/knowledge\.json: cannot be read/,
  );
  await withFile("k.yaml", "fallback: [", async (path) => {
    await assert.rejects(
      startBotServer({ BOT_MODE: "all", BOT_KNOWLEDGE_FILE: path }),
      /not valid YAML/,
    );
  });
  // With the bot off the file is not read at all.
  await using server = await startBotServer({
    BOT_MODE: "off",
    BOT_KNOWLEDGE_FILE: "/nonexistent",
  });
  assert.ok(server.port > 0);
});
