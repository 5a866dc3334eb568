/**
 * Statistics by range in the console: two chats served on a hand-driven server clock (waits of
 * 1 and 3 minutes, answers 30 s and 90 s after that, ratings 5 and 2) show as totals, per
 * operator and per queue, and in the charts' bars, with English and Russian number, percent,
 * duration and date formats; a range without them shows none; a reversed range is refused inline.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { ManualClock } from "../../src/runtime/clock.ts";
import type { Frame, TestServer, WsClient } from "../integration/_harness.ts";
import { check, clientSocket, consoleTest, signIn, startChat } from "./_console.ts";

const ok = (f: Frame) => assert.equal(f.type, "ack", JSON.stringify(f));

/** A chat served by `staff` on the clock: waits, first answer, close, then the client's rating. */
async function served(
  server: TestServer,
  clock: ManualClock,
  staff: WsClient,
  o: { name: string; waitS: number; answerS: number; closeS: number; score: number },
) {
  const chat = await startChat(server, { name: o.name, message: "Hello" });
  const client = await clientSocket(server, chat);
  await clock.advance(o.waitS * 1000);
  ok(await staff.request("accept_chat", { chat_id: chat.chat_id }));
  await clock.advance(o.answerS * 1000);
  ok(await staff.request("message", { chat_id: chat.chat_id, text: "How can I help?" }));
  await clock.advance(o.closeS * 1000);
  ok(await staff.request("close_chat", { chat_id: chat.chat_id }));
  ok(await client.request("rate", { score: o.score }));
  client.ws.close();
}

/** The range totals over REST (around the clock's day, UTC) once both ratings are counted. */
async function totals(server: TestServer) {
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const range = `from=${day(clockStart - 86_400_000)}&to=${day(clockStart + 86_400_000)}`;
  const token = await server.staffToken("admin-9", "admin");
  for (let i = 0; i < 100; i++) {
    const res = await fetch(
      `${server.url}/api/v1/chat/admin/stats/range?${range}&tz=UTC&group=day`,
      { headers: { authorization: `Bearer ${token}` } },
    );
    const body = await res.json();
    if (body.totals.ratings === 2) return body.totals;
    await new Promise((r) => setTimeout(r, 100)); // a guard loop on the counters, not a delay
  }
  assert.fail("the range counters never showed both ratings");
}

/** A KPI's shown value. */
const kpi = (page: Page, id: string) => page.locator(`#${id} dd`).textContent();

/** Formats the way the page's language does (Chromium's own Intl). */
const intl = (page: Page, lang: string, n: number, o: Intl.NumberFormatOptions) =>
  page.evaluate(([l, v, opts]) => new Intl.NumberFormat(l, opts).format(v), [lang, n, o] as const);

// The chats take 10 minutes of server time within today (UTC, the browser's zone here), before
// now but never before midnight: one day's bar counts both.
const midnight = Date.UTC(
  new Date().getUTCFullYear(),
  new Date().getUTCMonth(),
  new Date().getUTCDate(),
);
const clockStart = Math.max(midnight + 60_000, Date.now() - 15 * 60_000);
const clock = new ManualClock(clockStart);

consoleTest(
  "console stats: a range's waits, first responses, resolution and CSAT in EN and RU, charted",
  async ({ server, open, staff }) => {
    const olga = await staff("op-1", "operator", "Olga");
    const pavel = await staff("op-2", "operator", "Pavel");
    await served(server, clock, olga, {
      name: "Anna",
      waitS: 60,
      answerS: 30,
      closeS: 90,
      score: 5,
    });
    await served(server, clock, pavel, {
      name: "Boris",
      waitS: 180,
      answerS: 90,
      closeS: 150,
      score: 2,
    });
    const sum = await totals(server);
    assert.deepEqual(
      [sum.chats_created, sum.served, sum.wait_avg_s, sum.first_response_avg_s, sum.csat],
      [2, 2, 120, 180, 0.5], // a first response counts from the chat's start: 90 s, 270 s
    );

    for (const lang of ["en", "ru"]) {
      const { page } = await open();
      await signIn(page, server, await server.staffToken(`admin-${lang}`, "admin"), lang);
      await page.click('#views a[data-view="stats"]');
      await page.locator("#kpi-created dd", { hasText: "2" }).waitFor();
      const minutes = (n: number) =>
        intl(page, lang, n, { style: "unit", unit: "minute", unitDisplay: "short" });
      assert.equal(await kpi(page, "kpi-served"), "2");
      assert.equal(await kpi(page, "kpi-wait"), await minutes(2));
      assert.equal(await kpi(page, "kpi-first"), await minutes(3));
      const csat = await intl(page, lang, 0.5, { style: "percent" });
      assert.equal(await kpi(page, "kpi-csat"), csat);
      assert.match(await kpi(page, "kpi-rating") ?? "", lang === "ru" ? /^3,5 \/ 5/ : /^3\.5 \/ 5/);
      const today = await page.evaluate(
        (l) => new Intl.DateTimeFormat(l, { dateStyle: "medium" }).format(new Date()),
        lang,
      );
      await page.locator("#range-status", { hasText: today }).waitFor();

      // Per operator and per queue.
      const olgaRow = page.locator('#stats-operators tr[data-key="op-1"]');
      assert.equal(await olgaRow.locator("th").textContent(), "Olga");
      assert.deepEqual(
        await olgaRow.locator("td").allTextContents(),
        [
          "1",
          await minutes(1),
          await minutes(2), // 90 s, shown to the minute
          await minutes(3),
          "5",
          await intl(page, lang, 1, { style: "percent" }),
        ],
      );
      const pavelRow = page.locator('#stats-operators tr[data-key="op-2"]');
      assert.equal(
        await pavelRow.locator("td").last().textContent(),
        await intl(page, lang, 0, {
          style: "percent",
        }),
      );
      await page.locator('#stats-queues tr[data-key="default"] td', { hasText: csat }).waitFor();

      // The charts: today's bar counts both chats; one bar per operator.
      const created = lang === "ru" ? "Начато чатов" : "Chats started";
      const bars = await page.locator(".chart-figure").first().locator("rect title")
        .allTextContents();
      const day = await page.evaluate(
        (l) => new Intl.DateTimeFormat(l, { day: "numeric", month: "short" }).format(new Date()),
        lang,
      );
      assert.ok(bars.includes(`${day} · ${created}: 2`), bars.join("\n"));
      const served = lang === "ru" ? "Принято" : "Served";
      const byOp = await page.locator(".chart-figure").nth(2).locator("rect title")
        .allTextContents();
      for (const who of ["Olga", "Pavel"]) assert.ok(byOp.includes(`${who} · ${served}: 1`), who);
      // Every gridline of every chart has a value of its own ("0, 0, 1, 1, 2" was rounding).
      const axes = await page.locator(".chart-figure svg").evaluateAll((svgs) =>
        svgs.map((s) =>
          [...s.querySelectorAll('text[text-anchor="end"]')].map((t) => t.textContent)
        )
      );
      assert.equal(axes.length, 3);
      for (const ticks of axes) assert.equal(new Set(ticks).size, ticks.length, ticks.join(" | "));
      await check(page, `console-${lang}-stats`);

      // A range without those chats; a reversed range.
      await page.fill("#range-from", "2025-01-01");
      await page.fill("#range-to", "2025-01-31");
      await page.click("#range-apply");
      await page.locator("#kpi-created dd", { hasText: "0" }).waitFor();
      await page.locator("#stats-operators-h + p").waitFor();
      await page.fill("#range-from", "2025-02-01");
      await page.click("#range-apply");
      await page.locator("#range-error", {
        hasText: lang === "ru" ? "не может быть позже" : "must not be after",
      }).waitFor();
      assert.equal(await page.getAttribute("#range-to", "aria-invalid"), "true");
      await check(page, `console-${lang}-stats-range-error`);
    }
  },
  { clock },
);
