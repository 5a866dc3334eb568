/**
 * The bot in two languages: Russian questions match Russian examples whatever the word forms, the
 * answer (and fallback, welcome, hand-over) is in the language of the question, English keeps
 * working, and bilingual knowledge files are checked like the rest.
 */
import assert from "node:assert/strict";
import { Brain, languageOf } from "../../src/integrations/bot/brain.ts";
import {
  allExamples,
  loadKnowledge,
  localized,
  parseKnowledge,
} from "../../src/integrations/bot/knowledge.ts";
import { Matcher } from "../../src/integrations/bot/matcher.ts";
import { EscalationRules } from "../../src/integrations/bot/rules.ts";
import { silentLogger } from "../../src/log.ts";
import { Sockets } from "../integration/_util.ts";
import { say } from "../integration/_routing_util.ts";
import { isBot, isType, meta, SAMPLE_KNOWLEDGE, startBotServer } from "./_bot_util.ts";

const knowledge = await loadKnowledge(SAMPLE_KNOWLEDGE);
const matcher = new Matcher(knowledge);
const MIN = 0.4;
const brain = new Brain({ knowledge, matcher, minConfidence: MIN, llm: null, log: silentLogger });
const isRussian = (s: string) =>
  /[а-яё]/i.test(s) &&
  !/[a-z]{4}/i.test(s.replace(/PayPal|Visa|Mastercard|support@example\.com/g, ""));

Deno.test("bot: «Как вернуть деньги за заказ?» is the returns intent, with good confidence, in Russian", () => {
  const a = brain.offline("Как вернуть деньги за заказ?", []);
  assert.equal(a.intent, "returns");
  assert.ok(a.confidence >= 0.6, `confidence ${a.confidence}`);
  assert.equal(a.language, "ru");
  assert.match(a.text, /Вернуть любой товар можно в течение 30 дней/);
  assert.deepEqual(a.quickReplies, ["Где мой заказ", "Позвать оператора"]);
});

Deno.test("bot: Russian paraphrases in other word forms find their intent", () => {
  const cases: Array<[string, string]> = [
    ["вернуть деньги", "returns"],
    ["Возврат денег за заказ", "returns"],
    ["Верните мне деньги!", "returns"],
    ["Как оформить возврат товара?", "returns"],
    ["Где мой заказ? Он до сих пор не пришёл", "order_status"],
    ["Когда придут мои заказы?", "order_status"],
    ["Посылку так и не доставили", "order_status"],
    ["Во сколько вы сегодня закрываетесь?", "opening_hours"],
    ["Я забыла пароль и не могу войти", "account_password"],
    ["Можно оплатить картой МИР?", "payment"],
    ["Спасибо большое!", "thanks"],
    ["Добрый день", "greeting"],
  ];
  for (const [text, intent] of cases) {
    const m = matcher.match(text);
    assert.equal(m.intent?.name, intent, `${text} → ${m.intent?.name} (${m.confidence})`);
    assert.ok(m.confidence >= MIN, `${text}: ${m.confidence}`);
    assert.equal(brain.offline(text, []).language, "ru", text);
  }
});

Deno.test("bot: English questions keep their English answers; ё and case do not matter", () => {
  const en = brain.offline("I'd like my money back", []);
  assert.equal(en.intent, "returns");
  assert.equal(en.language, "en");
  assert.match(en.text, /^You can return any item within 30 days/);
  assert.equal(matcher.match("ЗАКАЗ НЕ ПРИШЕЛ").confidence, 1);
  assert.equal(matcher.match("заказ не пришёл").intent?.name, "order_status");
});

Deno.test("bot: the fallback is said in the language of the question, or of the client's last words", () => {
  const ru = brain.offline("фиолетовые слоны танцуют", []);
  assert.equal(ru.intent, "fallback");
  assert.match(ru.text, /^Извините, я не совсем понял/);
  assert.deepEqual(ru.quickReplies, ["Часы работы", "Где мой заказ", "Позвать оператора"]);
  const en = brain.offline("purple elephants dancing", []);
  assert.match(en.text, /^Sorry, I did not quite get that/);
  // A message without letters (an order number) keeps the language the client wrote in before.
  const turns = [{ role: "user" as const, text: "Где мой заказ?" }, {
    role: "assistant" as const,
    text: "…",
  }];
  assert.equal(languageOf("123-456", turns), "ru");
  assert.match(brain.offline("123-456", turns).text, /^Извините/);
  assert.equal(languageOf("123-456", []), null);
  assert.match(brain.offline("123-456", []).text, /^Sorry/);
});

Deno.test("bot: asking for a person in Russian escalates; keywords match Russian word forms", () => {
  const rules = new EscalationRules(knowledge, matcher, MIN, "юрист, суд");
  for (const text of ["Позовите живого человека", "соедините с оператором", "Позвать оператора"]) {
    assert.ok(rules.asksForHuman(text), text);
  }
  assert.ok(!rules.asksForHuman("Где мой заказ?"));
  assert.equal(rules.keyword("Я обращусь к юристу"), "юрист");
  assert.equal(rules.keyword("подам в суды"), "суд");
  assert.equal(localized(knowledge, "handoff", "ru").answers[0].startsWith("Передаю вас"), true);
  assert.equal(localized(knowledge, "handoff", "en").answers[0].startsWith("I'm passing"), true);
  const human = knowledge.intents.find((i) => i.escalate)!;
  assert.match(localized(knowledge, human, "ru").answers[0], /^Конечно/);
});

Deno.test("bot: the sample is bilingual throughout, and every Russian quick reply scores 1", () => {
  for (const i of knowledge.intents) {
    const ru = i.lang.ru;
    assert.ok(ru && ru.examples.length >= 3 && ru.answers.length >= 1, `intent ${i.name}`);
    for (const a of ru.answers) assert.ok(isRussian(a), `${i.name}: ${a}`);
    for (const r of ru.quick_replies) assert.equal(matcher.match(r).confidence, 1, r);
    assert.ok(allExamples(i).length > i.examples.length);
  }
  for (const what of ["welcome", "fallback", "handoff"] as const) {
    const said = localized(knowledge, what, "ru");
    assert.ok(isRussian(said.answers[0]), `${what}: ${said.answers[0]}`);
    for (const r of said.quickReplies) assert.equal(matcher.match(r).confidence, 1, r);
  }
});

Deno.test("knowledge: translations are checked like the rest (quick replies, languages)", () => {
  const base = {
    fallback: { answer: "?" },
    handoff: { answer: "->" },
    intents: [{
      name: "a",
      examples: ["hours"],
      answers: ["A"],
      lang: { ru: { examples: ["часы"], answers: ["А"], quick_replies: ["Нет такого"] } },
    }],
  };
  assert.throws(
    () => parseKnowledge(JSON.stringify(base), "k.json"),
    /intent a: quick reply "Нет такого" is not an example of any intent/,
  );
  const fr = structuredClone(base) as Record<string, unknown>;
  (fr.intents as Array<Record<string, unknown>>)[0].lang = { fr: { answers: ["?"] } };
  assert.throws(() => parseKnowledge(JSON.stringify(fr), "k.json"), /intents\.0\.lang/);
  // Without translations the file reads as before; a Russian client gets the top-level answer.
  const plain = parseKnowledge(
    JSON.stringify({ ...base, intents: [{ name: "a", examples: ["часы"], answers: ["A"] }] }),
    "k.json",
  );
  assert.deepEqual(localized(plain, plain.intents[0], "ru").answers, ["A"]);
  assert.equal(plain.language, "en");
});

Deno.test("bot (all, real server): a client named in Cyrillic is welcomed in Russian; «Как вернуть деньги за заказ?» gets the Russian returns answer; asking for a person in Russian hands over", async () => {
  await using server = await startBotServer({ BOT_MODE: "all" });
  await using sockets = new Sockets();
  const res = await fetch(`${server.url}/api/v1/chat/chats`, {
    method: "POST",
    body: JSON.stringify({ name: "Алиса" }),
  });
  assert.equal(res.status, 201);
  const chat = await res.json();
  const chatId = chat.chat_id as string;
  const client = await sockets.connect(
    server.wsUrl(chat.client_token, { chat_id: chatId, last_seq: 0 }),
  );
  const welcome = await client.next(isBot(chatId, "welcome"));
  assert.equal(welcome.payload.content, knowledge.welcome!.lang.ru!.answer);
  assert.deepEqual(meta(welcome).quick_replies, knowledge.welcome!.lang.ru!.quick_replies);

  let from = client.frames.length;
  assert.equal((await say(client, chatId, "Как вернуть деньги за заказ?")).type, "ack");
  const answer = await client.next(isBot(chatId), { from });
  assert.equal(meta(answer).intent, "returns");
  assert.ok(meta(answer).confidence >= 0.6, `${meta(answer).confidence}`);
  const returns = knowledge.intents.find((i) => i.name === "returns")!;
  assert.equal(answer.payload.content, returns.lang.ru!.answers[0]);

  from = client.frames.length;
  assert.equal((await say(client, chatId, "Позовите живого человека")).type, "ack");
  const human = await client.next(isBot(chatId), { from });
  assert.equal(meta(human).intent, "human");
  assert.match(String(human.payload.content), /^Конечно/);
  await client.next(isType("chat_escalated", chatId));
});
