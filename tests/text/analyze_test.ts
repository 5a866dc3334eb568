/** The bilingual text module: normalisation, stop words, Snowball stems in Russian and English. */
import assert from "node:assert/strict";
import { detectLanguage, normalize, stem, terms, tokens, words } from "../../src/text/analyze.ts";

Deno.test("normalize: case, accents, stress marks and apostrophes go; ё becomes е; й stays", () => {
  assert.equal(normalize("  Où est   ma COMMANDE?! "), "ou est ma commande");
  assert.equal(normalize("I can't log-in"), "i cant log in");
  assert.equal(normalize("Ёлка, ЁЖИК и мой заказ"), "елка ежик и мой заказ");
  assert.equal(normalize("за́мок"), "замок");
  assert.equal(normalize("Какой-то ЙОГУРТ"), "какой то йогурт");
  // Decomposed input (й as и + breve, é as e + acute) ends up the same as composed input.
  assert.equal(normalize("мои\u0306 cafe\u0301"), "мой cafe");
});

Deno.test("tokens: words with their place in the original text", () => {
  const text = "Где мой ЗАКАЗ №123?";
  const t = tokens(text);
  assert.deepEqual(t.map((x) => x.word), ["где", "мой", "заказ", "123"]);
  assert.deepEqual(t.map((x) => text.slice(x.start, x.end)), ["Где", "мой", "ЗАКАЗ", "123"]);
  assert.deepEqual(words("Where's my parcel?"), ["wheres", "my", "parcel"]);
});

Deno.test("stem: Russian word forms share a Snowball stem", () => {
  const same = (forms: string[]) => {
    const stems = new Set(forms.map((w) => stem(normalize(w))));
    assert.equal(stems.size, 1, `${forms.join(", ")} → ${[...stems].join(", ")}`);
  };
  same(["заказ", "заказа", "заказы", "заказов", "заказом", "заказе"]);
  same(["деньги", "деньгами", "деньгам"]);
  same(["возврат", "возврата", "возвратом", "возвраты"]);
  same(["доставка", "доставки", "доставку", "доставкой"]);
  same(["пароль", "пароля", "паролем"]);
  same(["оплата", "оплатить", "оплатил", "оплаты"]);
  same(["посылка", "посылку", "посылки"]);
  same(["ёлка", "елка", "ёлки"]);
  assert.equal(stem("вернуть"), "вернут");
});

Deno.test("stem: English is Porter2 (Snowball English); short words and numbers stay", () => {
  assert.equal(stem("generously"), "generous");
  assert.equal(stem("subscriptions"), "subscript");
  assert.equal(stem("refunded"), stem("refunds"));
  assert.equal(stem("lawyers"), "lawyer");
  assert.equal(stem("shipping"), "ship");
  assert.equal(stem("id"), "id");
  assert.equal(stem("a123b"), "a123b");
  // A Latin brand name inside a Russian message is stemmed as English, and the other way round.
  assert.deepEqual(terms("Оплатил через PayPal payments"), ["оплат", "paypal", "payment"]);
});

Deno.test("terms: stop words of both languages are dropped, content words kept", () => {
  assert.deepEqual(terms("Где мой заказ?"), ["заказ"]);
  assert.deepEqual(terms("Как вернуть деньги за заказ?"), ["вернут", "деньг", "заказ"]);
  assert.deepEqual(terms("Позовите живого человека, пожалуйста"), ["позов", "жив", "человек"]);
  assert.deepEqual(terms("Where are my orders shipping?"), ["order", "ship"]);
  assert.deepEqual(terms("и в на the and of"), []);
  // Greetings are not stop words: the bot's greeting intent matches on them.
  assert.deepEqual(terms("Привет"), ["привет"]);
});

Deno.test("detectLanguage: by the letters' script", () => {
  assert.equal(detectLanguage("Как вернуть деньги за заказ?"), "ru");
  assert.equal(detectLanguage("How do I return an item?"), "en");
  assert.equal(detectLanguage("Заказ 12345 via PayPal"), "ru");
  assert.equal(detectLanguage("Оплатил через PayPal, transaction ID ABCDEF"), "ru");
  assert.equal(detectLanguage("Please check the status of my order «Заказ»"), "en");
  assert.equal(detectLanguage("12345 !!"), null);
  assert.equal(detectLanguage("👍"), null);
});
