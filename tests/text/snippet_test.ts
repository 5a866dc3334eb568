/** Snippets around matched words, with highlight ranges that match any word form. */
import assert from "node:assert/strict";
import { terms } from "../../src/text/analyze.ts";
import { matchCount, snippet } from "../../src/text/snippet.ts";

const marked = (s: { text: string; highlights: Array<[number, number]> }) =>
  s.highlights.map(([a, b]) => s.text.slice(a, b));

Deno.test("snippet: highlights every form of the query's words", () => {
  const q = new Set(terms("заказ деньги"));
  const s = snippet("Верните, пожалуйста, деньги за два заказа: ЗАКАЗЫ пришли сломанными.", q);
  assert.deepEqual(marked(s), ["деньги", "заказа", "ЗАКАЗЫ"]);
  assert.equal(s.text.startsWith("Верните"), true);
  assert.equal(matchCount("деньги за заказы", q), 2);
  assert.equal(matchCount("ничего общего", q), 0);
});

Deno.test("snippet: a long text is cut around the first match at word boundaries", () => {
  const filler = "lorem ipsum dolor sit amet ".repeat(20);
  const text = `${filler}the refund for order 42 was sent ${filler}`;
  const s = snippet(text, new Set(terms("refunded")), 80);
  assert.ok(s.text.startsWith("…") && s.text.endsWith("…"), s.text);
  assert.ok(s.text.length <= 82, `${s.text.length}`);
  assert.deepEqual(marked(s), ["refund"]);
  assert.ok(
    !/^…\S*\s/.test(s.text) || s.text.startsWith("…lorem") || s.text.startsWith("…ipsum") ||
      s.text.startsWith("…dolor") || s.text.startsWith("…sit") || s.text.startsWith("…amet"),
  );
});

Deno.test("snippet: without a match the text's start, squeezed; stop words are never marked", () => {
  const s = snippet("Hello   there,\n\nhow are you", new Set(terms("how are")), 100);
  assert.deepEqual(s, { text: "Hello there, how are you", highlights: [] });
});
