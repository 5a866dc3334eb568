/**
 * Hints in Russian and English: the index stems both languages (src/text/analyze.ts), so a
 * Russian question finds Russian canned responses and past answers in other word forms, and an
 * intent of the bot's sample file offers its Russian answer to a Russian question.
 */
import assert from "node:assert/strict";
import { knowledgeDocs, readKnowledgeFile } from "../../src/integrations/hints/knowledge.ts";
import { HintIndex } from "../../src/integrations/hints/search.ts";

const SAMPLE = new URL("../../config/knowledge.json", import.meta.url).pathname;

async function bilingualIndex(): Promise<HintIndex> {
  const index = new HintIndex();
  index.replaceSource("knowledge", (await readKnowledgeFile(SAMPLE)).docs);
  const canned: Array<[string, string[], string]> = [
    [
      "Возврат товара",
      ["возврат", "деньги"],
      "Оформите возврат в профиле, деньги придут за 5 дней.",
    ],
    ["Смена адреса доставки", ["адрес"], "Адрес можно поменять, пока заказ не передан в доставку."],
    ["Refund policy", ["refund", "money"], "Refunds reach your card within 5 working days."],
  ];
  canned.forEach(([title, tags, text], i) =>
    index.put({ id: `c:${i}`, source: "canned", title, keys: tags.join(" "), text, ref: `${i}` })
  );
  index.put({
    id: "h:0",
    source: "history",
    title: "",
    keys: "Здравствуйте! Посылка пришла повреждённой, что делать?",
    text: "Пришлите, пожалуйста, фото повреждений, и мы отправим замену.",
    ref: "0",
  });
  return index;
}

Deno.test("hints: a Russian question finds Russian canned responses whatever the word forms", async () => {
  const index = await bilingualIndex();
  const hints = index.search("Как вернуть деньги за возвраты?", 5);
  // The team's reply and the bot's Russian answer on returns, and nothing in English.
  assert.deepEqual(hints.slice(0, 2).map((h) => h.title).sort(), ["returns", "Возврат товара"]);
  assert.match(hints.find((h) => h.title === "returns")!.text, /^Вернуть любой товар/);
  assert.ok(hints.every((h) => !/^(Refunds|You can)/.test(h.text)), JSON.stringify(hints));
  assert.equal(index.search("поменять адреса доставок", 3)[0].title, "Смена адреса доставки");
  // English stays English.
  assert.equal(index.search("refunded money", 3)[0].title, "Refund policy");
});

Deno.test("hints: the bot's sample intents offer their Russian answer to a Russian question", async () => {
  const index = await bilingualIndex();
  const hours = index.search("До скольки вы работаете в субботу?", 5)
    .find((h) => h.source === "knowledge");
  assert.equal(hours?.title, "opening_hours");
  assert.match(hours!.text, /^Мы работаем с понедельника по пятницу/);
  const en = index.search("when are you open", 5).find((h) => h.source === "knowledge");
  assert.match(en!.text, /^We are open Monday to Friday/);
});

Deno.test("hints: a past answer is found by other forms of its question's words; greetings weigh nothing", async () => {
  const index = await bilingualIndex();
  const h = index.search("посылки повреждены", 3)[0];
  assert.equal(h.source, "history");
  assert.match(h.text, /фото повреждений/);
  assert.deepEqual(index.search("здравствуйте спасибо", 3), []);
});

Deno.test("hints: the tolerant reader turns each translation into a document of its own", () => {
  const { docs, skipped } = knowledgeDocs({
    intents: [
      {
        name: "hours",
        examples: ["opening hours"],
        answers: ["9 to 5"],
        lang: { ru: { examples: ["часы работы"], answers: ["С 9 до 5"] }, de: { answers: [] } },
      },
      { name: "human", escalate: true, examples: ["operator"], answers: ["->"] },
    ],
  });
  assert.equal(skipped, 1);
  assert.deepEqual(docs.map((d) => [d.id, d.keys, d.text]), [
    ["k:hours", "opening hours", "9 to 5"],
    ["k:hours:ru", "часы работы", "С 9 до 5"],
  ]);
});
