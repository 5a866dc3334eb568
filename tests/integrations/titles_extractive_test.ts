/** Chat titles, offline: the extractive title and when a message titles the chat anew. */
import assert from "node:assert/strict";
import {
  cut,
  extractiveTitle,
  isTrivial,
  TITLE_MAX,
} from "../../src/integrations/titles/extractive.ts";
import { shouldTitle } from "../../src/integrations/titles/titler.ts";

Deno.test("titles: the first sentence, without greeting or filler in front, is the title", () => {
  const cases: Array<[string[], string]> = [
    [["Hi! I need help with my invoice from May"], "My invoice from May"],
    [
      ["hello there, my order #1234 has not arrived yet. It was due Monday"],
      "My order #1234 has not arrived yet",
    ],
    [
      ["good morning team, I have a question about refunds for damaged items"],
      "Refunds for damaged items",
    ],
    [["Quick question. Do you ship to Canada?"], "Do you ship to Canada"],
    [["where is my order???"], "Where is my order"],
    [["Olá, preciso de ajuda com a minha conta"], "Olá, preciso de ajuda com a minha conta"],
  ];
  for (const [messages, title] of cases) assert.equal(extractiveTitle(messages), title);
});

Deno.test("titles: small talk first is skipped in favour of the first message with a topic", () => {
  assert.equal(extractiveTitle(["hi", "hello?", "where is my order?"]), "Where is my order");
  assert.equal(extractiveTitle(["Hello!"]), "Hello");
  assert.equal(extractiveTitle(["ok", "thanks"]), "Ok");
  assert.equal(extractiveTitle(["   "]), "New chat");
});

Deno.test("titles: long sentences are cut at a word boundary; a wall of words becomes its keywords", () => {
  const long =
    "I can't log in to my account since yesterday, it says password wrong and the reset email never arrives";
  const t = extractiveTitle([long]);
  assert.equal(t, "I can't log in to my account since yesterday, it says…");
  assert.ok(t.length <= TITLE_MAX);
  const wall = "hello i am writing because the thing i ordered last week which was a blue sofa " +
    "with three seats arrived with a broken leg and the driver would not take it back so what now";
  assert.equal(extractiveTitle([wall]), "Writing because ordered last week blue");
  assert.equal(cut("short", 10), "short");
  assert.equal(cut("abcdefghijklmnopqrstuvwxyz", 10), "abcdefghi…");
});

Deno.test("titles: greetings, thanks and vague openers are trivial; anything with a topic is not", () => {
  for (const t of ["hi", "Hello there!", "good morning", "ok thanks", "Quick question.", ""]) {
    assert.equal(isTrivial(t), true, t);
  }
  for (const t of ["refund", "hi, where is my order", "no internet since Monday"]) {
    assert.equal(isTrivial(t), false, t);
  }
});

Deno.test("titles: the first message titles the chat; the second or third only after small talk only", () => {
  assert.equal(shouldTitle([]), false);
  assert.equal(shouldTitle(["hi"]), true);
  assert.equal(shouldTitle(["my invoice is wrong"]), true);
  assert.equal(shouldTitle(["hi", "hello"]), false, "still small talk");
  assert.equal(shouldTitle(["hi", "my invoice is wrong"]), true, "refined");
  assert.equal(shouldTitle(["hi", "hey", "my invoice is wrong"]), true, "refined on the third");
  assert.equal(shouldTitle(["my invoice is wrong", "where is my order"]), false, "kept");
  assert.equal(shouldTitle(["hi", "hey", "yo", "my invoice is wrong"]), false, "too late");
  assert.equal(shouldTitle(["hi", " "]), false, "attachments only");
});
