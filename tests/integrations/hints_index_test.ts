/**
 * Hints: the full-text index ranks realistic canned, knowledge and history documents sensibly,
 * with typos and prefixes; the knowledge reader is tolerant; chat events become question → answer
 * pairs.
 */
import assert from "node:assert/strict";
import type { SessionEvent } from "../../actors/session.ts";
import { extractPairs, lastClientQuestion } from "../../src/integrations/hints/history.ts";
import { knowledgeDocs, readKnowledgeFile } from "../../src/integrations/hints/knowledge.ts";
import { type HintDoc, HintIndex } from "../../src/integrations/hints/search.ts";
import { ADDRESS_ANSWER, ADDRESS_QUESTION, CANNED, KNOWLEDGE } from "./_hints_data.ts";

function realisticIndex(): HintIndex {
  const index = new HintIndex();
  CANNED.forEach((c, i) =>
    index.put({
      id: `c:${i}`,
      source: "canned",
      title: c.title,
      keys: c.tags.join(" "),
      text: c.text,
      ref: String(i),
    })
  );
  index.replaceSource("knowledge", knowledgeDocs(KNOWLEDGE).docs);
  const history: Array<[string, string]> = [
    [ADDRESS_QUESTION, ADDRESS_ANSWER],
    ["my parcel arrived damaged, what now?", "Sorry! Send us a photo and we ship a new one."],
    ["do you ship to Norway", "Yes, we ship to Norway; customs fees may apply."],
  ];
  history.forEach(([q, a], i) =>
    index.put({ id: `h:${i}`, source: "history", title: "", keys: q, text: a, ref: String(i) })
  );
  return index;
}

const top = (index: HintIndex, q: string) => index.search(q, 5)[0];

Deno.test("index: a canned response beats the bot's answer on the same topic", () => {
  const hints = realisticIndex().search("how do I reset my password", 5);
  assert.deepEqual(hints[0].source, "canned");
  assert.deepEqual(hints[0].title, "Password reset");
  // The bot's answer on the same topic is also offered, right after.
  assert.deepEqual(hints[1].source, "knowledge");
  assert.deepEqual(hints[1].title, "reset_password");
});

Deno.test("index: the best source wins per topic", () => {
  const index = realisticIndex();
  assert.deepEqual(top(index, "are you open on saturday")?.title, "opening_hours");
  // Only the bot's examples speak of "forgot": its answer beats the canned one here.
  assert.deepEqual(top(index, "I forgot my password")?.title, "reset_password");
  assert.deepEqual(top(index, "where is my invoice")?.title, "invoice");
  assert.deepEqual(top(index, "I want my money back")?.title, "Refund policy");
  assert.deepEqual(top(index, "how long does delivery take")?.title, "Shipping times");
  const address = top(index, "can I change the delivery address");
  assert.deepEqual(address?.source, "history");
  assert.deepEqual(address?.text, ADDRESS_ANSWER);
});

Deno.test("index: typos and unfinished words still find the answer", () => {
  const index = realisticIndex();
  assert.deepEqual(top(index, "pasword resset")?.title, "Password reset");
  assert.deepEqual(top(index, "refnd")?.title, "Refund policy");
  assert.deepEqual(top(index, "subscr")?.title, "Cancel subscription"); // as the operator types
  assert.deepEqual(top(index, "invoic")?.title, "invoice");
});

Deno.test("index: stop words alone match nothing; limit and duplicate answers", () => {
  const index = realisticIndex();
  assert.deepEqual(index.search("how do I", 5), []);
  assert.deepEqual(index.search("password", 1).length, 1);
  const same: HintDoc = {
    id: "h:dup",
    source: "history",
    title: "",
    keys: "refund please",
    text: "  You can ask for a refund within 30 days of purchase under Orders → Request refund. " +
      "The money reaches your card in 5–7 business days.",
    ref: "dup",
  };
  index.put(same);
  const refunds = index.search("refund", 5).filter((h) => /within 30 days/.test(h.text));
  assert.deepEqual(refunds.length, 1, "the same answer twice is offered once");
  assert.deepEqual(refunds[0].source, "canned");
});

Deno.test("index: replacing a source and removing documents", () => {
  const index = realisticIndex();
  const before = index.size;
  index.replaceSource("knowledge", []);
  assert.deepEqual(index.countOf("knowledge"), 0);
  assert.deepEqual(index.size, before - 3);
  // (Stemmed, "opening" also finds the canned "open Settings": no bot answer is what counts.)
  assert.ok(index.search("opening hours", 5).every((h) => h.source !== "knowledge"));
  index.remove("c:0");
  assert.deepEqual(index.search("password", 5).some((h) => h.title === "Password reset"), false);
  index.put({ id: "c:0", source: "canned", title: "Password", keys: "", text: "New", ref: "0" });
  assert.deepEqual(top(index, "password")?.text, "New");
});

Deno.test("knowledge: the bot's format, lists, maps and other field names are read", () => {
  assert.deepEqual(knowledgeDocs(KNOWLEDGE).docs.map((d) => d.title), [
    "opening_hours",
    "reset_password",
    "invoice",
  ]);
  const loose = knowledgeDocs([
    { intent: "greet", patterns: ["hello there"], response: "Hello! How can I help?" },
    { tag: "bye", phrases: "goodbye", responses: ["", "See you!"] },
    { name: "no_answer", examples: ["nothing"] },
    "not an intent",
  ]);
  assert.deepEqual(loose.docs.map((d) => [d.title, d.keys, d.text]), [
    ["greet", "hello there", "Hello! How can I help?"],
    ["bye", "goodbye", "See you!"],
  ]);
  assert.deepEqual(loose.skipped, 2);
  const map = knowledgeDocs({
    fallback: { answer: "Sorry?" },
    hours: { examples: ["open"], answer: "9 to 5" },
  });
  assert.deepEqual(map.docs.map((d) => d.id), ["k:hours"]);
  assert.deepEqual(knowledgeDocs(42), { docs: [], skipped: 0 });
  assert.deepEqual(knowledgeDocs({ intents: [] }), { docs: [], skipped: 0 });
});

Deno.test("knowledge: the bot's sample file is read, hand-over intents left out", async () => {
  const sample = new URL("../../config/knowledge.json", import.meta.url).pathname;
  const { docs } = await readKnowledgeFile(sample);
  assert.ok(docs.length >= 3, `intents read from ${sample}: ${docs.length}`);
  assert.ok(docs.every((d) => d.text.trim() && d.source === "knowledge"));
  const escalating = knowledgeDocs({
    intents: [{ name: "human", examples: ["agent"], answers: ["Passing you on"], escalate: true }],
  });
  assert.deepEqual(escalating, { docs: [], skipped: 1 });
});

Deno.test("knowledge: YAML and JSON files; a broken file is an error naming it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/k.yaml`,
      "intents:\n  - name: hours\n    examples: [when are you open]\n    answers: [9 to 5]\n",
    );
    assert.deepEqual((await readKnowledgeFile(`${dir}/k.yaml`)).docs[0].text, "9 to 5");
    await Deno.writeTextFile(`${dir}/k.json`, JSON.stringify(KNOWLEDGE));
    assert.deepEqual((await readKnowledgeFile(`${dir}/k.json`)).docs.length, 3);
    await Deno.writeTextFile(`${dir}/bad.json`, "{ intents: [");
    const err = await readKnowledgeFile(`${dir}/bad.json`).catch((e) => e as Error);
    assert.deepEqual(err instanceof Error && err.message.includes(`${dir}/bad.json`), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const msg = (role: "client" | "operator", text: string, senderId = role): SessionEvent => ({
  type: "message",
  senderId,
  senderRole: role,
  text,
  at: 0,
});

Deno.test("pairs: client questions and the operator answers that follow", () => {
  const events: SessionEvent[] = [
    msg("operator", "Hello, how can I help?"), // greeting before any question: not an answer
    msg("client", "Hi"),
    msg("client", "My parcel arrived damaged."),
    {
      type: "bot_message",
      intent: "x",
      confidence: 1,
      text: "Bot says hi",
      quickReplies: [],
      at: 0,
    },
    msg("operator", "Sorry to hear that!"),
    msg("operator", "Send us a photo and we ship a new one."),
    msg("client", "Thanks, bye"),
  ];
  assert.deepEqual(extractPairs(events), [{
    question: "Hi My parcel arrived damaged.",
    answer: "Sorry to hear that!\nSend us a photo and we ship a new one.",
  }]);
  assert.deepEqual(lastClientQuestion(events), "Thanks, bye");
  assert.deepEqual(lastClientQuestion(events.slice(0, 4)), "Hi My parcel arrived damaged.");
  assert.deepEqual(lastClientQuestion([msg("operator", "hello")]), "");
});

Deno.test("pairs: at most five per chat, the last ones, with bounded lengths", () => {
  const events = Array.from({ length: 8 }, (_, i) => [
    msg("client", `question ${i} ${"x".repeat(600)}`),
    msg("operator", `answer ${i} ${"y".repeat(1200)}`),
  ]).flat();
  const pairs = extractPairs(events);
  assert.deepEqual(pairs.length, 5);
  assert.deepEqual(pairs[0].answer.startsWith("answer 3"), true);
  assert.deepEqual(pairs[4].answer.startsWith("answer 7"), true);
  for (const p of pairs) {
    assert.deepEqual(p.question.length <= 500 && p.answer.length <= 1000, true);
  }
  assert.ok(pairs[0].question.length > 100);
});
