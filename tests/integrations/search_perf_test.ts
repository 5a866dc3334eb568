/**
 * Search at a realistic size: 2,000 conversations (8 messages each, Russian and English) taken in
 * the way the indexer's drain does (256 events per step) into a KV file; prints what a chat costs
 * in the index and the indexing throughput, and checks that queries answer well under 50 ms (on a
 * machine that is not overloaded; a sanity bound when it is).
 */
import assert from "node:assert/strict";
import type { SessionEvent } from "../../actors/_session_types.ts";
import type { FeedEvent } from "../../src/integrations/feed.ts";
import { SearchQuery, type Viewer } from "../../src/integrations/search/query.ts";
import { SearchStore } from "../../src/integrations/search/store.ts";
import { conversation, DAY, FakeLog, footprint, T0 } from "./_search_util.ts";

const CHATS = 2_000;

const RU_Q = [
  "Здравствуйте, где мой заказ номер {n}? Уже неделю жду доставку",
  "Хочу вернуть {item}, он пришёл сломанным",
  "Как вернуть деньги за заказ {n}?",
  "Не могу войти в личный кабинет, пароль не подходит",
  "Списали деньги дважды за {item}, верните пожалуйста",
  "Курьер не приехал, доставка сорвалась",
  "Можно поменять адрес доставки для заказа {n}?",
  "Подскажите, когда будет скидка на {item}?",
];
const RU_A = [
  "Проверил заказ {n}: посылка в пути, курьер привезёт завтра",
  "Оформил возврат, деньги придут на карту за пять рабочих дней",
  "Отправил ссылку для сброса пароля на вашу почту",
  "Извините за задержку, передал жалобу в службу доставки",
  "Адрес изменён, новый срок доставки послезавтра",
];
const EN_Q = [
  "Hi, where is my order {n}? The tracking page has not moved for days",
  "I want to return the {item}, it arrived broken",
  "I was charged twice for the {item}, please refund me",
  "Cannot log in to my account, the password reset email never came",
  "Can I change the delivery address for order {n}?",
];
const EN_A = [
  "I checked order {n}: the parcel is with the courier and arrives tomorrow",
  "I started the refund; the money reaches your card within five working days",
  "I sent a new password reset link to your email",
  "The delivery address is updated; the new delivery date is Friday",
];
const ITEMS_RU = ["пылесос", "чайник", "телефон", "ноутбук", "холодильник", "утюг", "наушники"];
const ITEMS_EN = ["vacuum cleaner", "kettle", "phone", "laptop", "fridge", "headphones"];

function rng(seed: number) {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

function corpus(): Array<{ id: string; events: SessionEvent[] }> {
  const r = rng(42);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const fill = (t: string, ru: boolean) =>
    t.replace("{n}", String(100_000 + Math.floor(r() * 900_000)))
      .replace("{item}", pick(ru ? ITEMS_RU : ITEMS_EN));
  return Array.from({ length: CHATS }, (_, i) => {
    const ru = r() < 0.7;
    const messages = Array.from(
      { length: 8 },
      (_, m) =>
        m % 2 === 0
          ? ["client", fill(pick(ru ? RU_Q : EN_Q), ru)] as const
          : ["staff", fill(pick(ru ? RU_A : EN_A), ru)] as const,
    );
    return {
      id: `chat-${String(i).padStart(5, "0")}`,
      events: conversation({
        client: `client-${i % 700}`,
        name: ru ? pick(["Анна", "Борис", "Вера", "Глеб"]) : pick(["Alice", "Bob", "Carol"]),
        operator: `op-${i % 12}`,
        messages,
        closed: r() < 0.8,
        at: T0 - Math.floor(r() * 60) * DAY + i * 1000,
      }),
    };
  });
}

Deno.test("search at size: 2,000 chats indexed, what a chat costs, queries well under 50 ms", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-search-perf-" });
  const kv = await Deno.openKv(`${dir}/search.kv`);
  try {
    const log = new FakeLog(kv);
    const store = new SearchStore(kv);
    const all: FeedEvent[] = [];
    for (const c of corpus()) all.push(...await log.append(c.id, ...c.events));
    const started = performance.now();
    for (let i = 0; i < all.length; i += 256) await store.take(all.slice(i, i + 256));
    const indexMs = performance.now() - started;
    assert.equal(await store.chatCount(), CHATS);

    const size = await footprint(kv, ["search"]);
    const messages = CHATS * 8;
    const postings = store.counters.postings;
    const file = (await Deno.stat(`${dir}/search.kv`)).size +
      (await Deno.stat(`${dir}/search.kv-wal`).catch(() => ({ size: 0 }))).size;
    console.log(
      `indexed ${CHATS} chats / ${all.length} events in ${indexMs.toFixed(0)} ms: ` +
        `${(all.length / indexMs * 1000).toFixed(0)} events/s, ` +
        `${(CHATS / indexMs * 1000).toFixed(0)} chats/s (one process, one KV file)`,
    );
    console.log(
      `index: ${size.keys} keys, ${(size.bytes / 1024 / 1024).toFixed(1)} MiB of keys+values; ` +
        `per chat ${(size.keys / CHATS).toFixed(0)} keys, ${
          (size.bytes / CHATS / 1024).toFixed(1)
        } KiB ` +
        `(${(postings / messages).toFixed(1)} postings per message); ` +
        `KV file with the fake logs' marks ${(file / 1024 / 1024).toFixed(1)} MiB`,
    );

    const query = new SearchQuery(store, log.read, 20_000);
    const admin: Viewer = { id: "adm", role: "admin" };
    const op: Viewer = { id: "op-3", role: "operator" };
    const queries: Array<[Viewer, string, Record<string, unknown>]> = [
      [admin, "деньги за заказ", {}],
      [op, "возврат денег", {}],
      [admin, "пылесосы", { status: ["closed"] }],
      [admin, "refund card", {}],
      [op, "courier delivery", { from: T0 - 10 * DAY }],
      [admin, "доставки", { operatorId: "op-5" }],
      [admin, "", { status: ["open"] }],
      [admin, "наушники", { limit: 50 }],
    ];
    const times: number[] = [];
    for (const [v, q, more] of queries) {
      let best = Infinity;
      let hits = 0;
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        const a = await query.search(v, { q, status: [], limit: 20, ...more });
        best = Math.min(best, performance.now() - t);
        hits = a.hits.length;
      }
      times.push(best);
      console.log(
        `  "${q}" ${JSON.stringify(more)} as ${v.role}: ${hits} results, ${best.toFixed(1)} ms`,
      );
      assert.ok(hits > 0, q);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    // 50 ms is the bar on a machine with its cores to spare; `deno task test` runs the suites in
    // parallel on two shared cores (load 10+), where only a sanity bound holds.
    const busy = Deno.loadavg()[0] > navigator.hardwareConcurrency;
    const bound = busy ? 250 : 50;
    console.log(`median ${median.toFixed(1)} ms (bound ${bound} ms, load ${Deno.loadavg()[0]})`);
    assert.ok(median < bound, `median query ${median.toFixed(1)} ms`);
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});
