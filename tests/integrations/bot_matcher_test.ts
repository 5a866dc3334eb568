/** Bot, offline: text normalisation, the TF-IDF matcher, escalation rules, offline answers. */
import assert from "node:assert/strict";
import { Brain } from "../../src/integrations/bot/brain.ts";
import { loadKnowledge, parseKnowledge } from "../../src/integrations/bot/knowledge.ts";
import { Matcher } from "../../src/integrations/bot/matcher.ts";
import { EscalationRules } from "../../src/integrations/bot/rules.ts";
import { normalize, terms } from "../../src/integrations/bot/text.ts";
import { silentLogger } from "../../src/log.ts";
import { SAMPLE_KNOWLEDGE } from "./_bot_util.ts";

const knowledge = await loadKnowledge(SAMPLE_KNOWLEDGE);
const matcher = new Matcher(knowledge);
const MIN = 0.4;

Deno.test("text: normalisation drops case, accents, apostrophes and symbols; terms drop stop words and stem", () => {
  assert.equal(normalize("  Où est   ma COMMANDE?! "), "ou est ma commande");
  assert.equal(normalize("I can't log-in"), "i cant log in");
  assert.deepEqual(terms("Where are my orders shipping?"), ["order", "ship"]);
  assert.deepEqual(terms("the and of"), []);
});

Deno.test("matcher: paraphrases find their intent with a confidence above the threshold", () => {
  const cases: Array<[string, string]> = [
    ["What are your opening hours?", "opening_hours"],
    ["hi, when are you open on weekends", "opening_hours"],
    ["My order hasn't arrived yet, it's been a week", "order_status"],
    ["where's my parcel", "order_status"],
    ["I forgot my password and can't log in", "account_password"],
    ["can I pay with a credit card?", "payment"],
    ["I'd like my money back", "returns"],
    ["thanks a lot", "thanks"],
    ["I want to speak to a real person", "human"],
  ];
  for (const [text, intent] of cases) {
    const m = matcher.match(text);
    assert.equal(m.intent?.name, intent, `${text} → ${m.intent?.name} (${m.confidence})`);
    assert.ok(m.confidence >= MIN && m.confidence <= 1, `${text}: ${m.confidence}`);
  }
});

Deno.test("matcher: an example or quick reply written exactly scores 1, whatever its case and punctuation", () => {
  for (const text of ["Talk to a human", "talk to a HUMAN!", "Track my order", "hello"]) {
    assert.equal(matcher.match(text).confidence, 1, text);
  }
  assert.equal(matcher.match("Track my order").intent?.name, "order_status");
});

Deno.test("matcher: unrelated text has low or zero confidence; more unknown words lower it", () => {
  assert.deepEqual(matcher.match("purple elephants dancing"), { intent: null, confidence: 0 });
  assert.deepEqual(matcher.match("?!"), { intent: null, confidence: 0 });
  const focused = matcher.match("opening hours").confidence;
  const diluted = matcher.match("opening hours of the zoo giraffe enclosure").confidence;
  assert.ok(diluted < focused, `${diluted} < ${focused}`);
  const brushed = matcher.match("opening hours of the zoo giraffe enclosure near the river bank")
    .confidence;
  assert.ok(brushed < diluted && brushed < MIN, `only brushing an intent: ${brushed} < ${MIN}`);
});

Deno.test("matcher: a phrase listed by two intents belongs to the first one", () => {
  const k = parseKnowledge(
    JSON.stringify({
      fallback: { answer: "?" },
      handoff: { answer: "->" },
      intents: [
        { name: "a", examples: ["shared phrase"], answers: ["A"] },
        { name: "b", examples: ["shared phrase", "other"], answers: ["B"] },
      ],
    }),
    "k.json",
  );
  assert.equal(new Matcher(k).match("Shared phrase.").intent?.name, "a");
});

Deno.test("rules: configured keywords match whole words in any inflection, phrases in order", () => {
  const rules = new EscalationRules(knowledge, matcher, MIN, " lawyer , data breach,, ");
  assert.equal(rules.keyword("I will talk to my LAWYERS about this"), "lawyer");
  assert.equal(rules.keyword("there was a data breach!"), "data breach");
  assert.equal(rules.keyword("breach of data"), null);
  assert.equal(rules.keyword("lawyered up"), "lawyer"); // the same stem
  assert.equal(rules.keyword("law yer, lawful"), null);
  assert.equal(new EscalationRules(knowledge, matcher, MIN, "").keyword("lawyer"), null);
});

Deno.test("rules: asking for a person is recognised inside longer messages", () => {
  const rules = new EscalationRules(knowledge, matcher, MIN, "");
  for (const text of ["operator!!", "this bot is useless, give me a human", "Talk to a human"]) {
    assert.equal(rules.asksForHuman(text), true, text);
  }
  for (const text of ["what are your opening hours", "hello", "purple elephants"]) {
    assert.equal(rules.asksForHuman(text), false, text);
  }
});

Deno.test("offline brain: answers from the intent with its quick replies; below the threshold, the fallback", () => {
  const brain = new Brain({ knowledge, matcher, minConfidence: MIN, llm: null, log: silentLogger });
  const hours = knowledge.intents.find((i) => i.name === "opening_hours")!;
  const a = brain.offline("When are you open?", []);
  assert.equal(a.intent, "opening_hours");
  assert.equal(a.text, hours.answers[0]);
  assert.deepEqual(a.quickReplies, hours.quick_replies);
  assert.equal(a.escalate, false);
  assert.equal(a.source, "matcher");

  const lost = brain.offline("purple elephants dancing", []);
  assert.equal(lost.intent, "fallback");
  assert.equal(lost.confidence, 0);
  assert.equal(lost.text, knowledge.fallback.answer);
  assert.deepEqual(lost.quickReplies, knowledge.fallback.quick_replies);

  assert.equal(brain.offline("talk to a human", []).escalate, true);
});

Deno.test("offline brain: an intent with several answers gives them in turn", () => {
  const k = parseKnowledge(
    JSON.stringify({
      fallback: { answer: "?" },
      handoff: { answer: "->" },
      intents: [{ name: "hours", examples: ["opening hours"], answers: ["First", "Second"] }],
    }),
    "k.json",
  );
  const brain = new Brain({
    knowledge: k,
    matcher: new Matcher(k),
    minConfidence: MIN,
    llm: null,
    log: silentLogger,
  });
  const bot = { role: "assistant" as const, text: "x" };
  assert.equal(brain.offline("opening hours", []).text, "First");
  assert.equal(brain.offline("opening hours", [bot]).text, "Second");
  assert.equal(brain.offline("opening hours", [bot, bot]).text, "First");
});
