/**
 * The console on a 375 px phone, in Russian (the longer words) and English: every view and dialog
 * fits the width (the page never scrolls sideways; wide tables scroll in their own box), primary
 * actions are at least 44 × 44 px, the reply box's text is 16 px (no zoom on iOS); axe and a
 * screenshot of each state.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { check, consoleTest, PHONE, signIn, startChat } from "./_console.ts";

// Page globals, used inside `page.evaluate` callbacks.
// deno-lint-ignore no-explicit-any
declare const document: any, getComputedStyle: any;

/** Fails when the page is wider than the screen, naming what sticks out. */
async function fits(page: Page, state: string) {
  const out = await page.evaluate(() => {
    const doc = document;
    const width = doc.documentElement.clientWidth;
    const over = [...doc.querySelectorAll("body *")].filter((el) => {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.right <= width + 1) return false;
      // Inside a box that scrolls on its own (a table), sticking out is that box's business.
      for (let p = el.parentElement; p; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o === "auto" || o === "scroll" || o === "hidden") return false;
      }
      return true;
    }).slice(0, 5).map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`);
    return { scroll: doc.documentElement.scrollWidth, width, over };
  });
  assert.ok(
    out.scroll <= out.width && out.over.length === 0,
    `${state}: ${out.scroll} px wide on a ${out.width} px screen; sticking out: ${out.over}`,
  );
}

/** Fails when a visible target named by `selector` is smaller than 44 × 44 px. */
async function targets(page: Page, state: string, selectors: string[]) {
  for (const sel of selectors) {
    const boxes = await page.locator(sel).evaluateAll((els) =>
      els.filter((e) => (e as { offsetParent: unknown }).offsetParent !== null).map((e) => {
        const r = e.getBoundingClientRect();
        return [Math.round(r.width), Math.round(r.height)];
      })
    );
    assert.ok(boxes.length > 0, `${state}: nothing visible matches ${sel}`);
    for (const [w, h] of boxes) assert.ok(w >= 44 && h >= 44, `${state}: ${sel} is ${w}×${h} px`);
  }
}

/** Fits, targets, axe and a screenshot. */
async function state(page: Page, name: string, selectors: string[]) {
  await fits(page, name);
  await targets(page, name, selectors);
  await check(page, name);
}

const NAV = ['#views a[data-view="inbox"]', '#views a[data-view="search"]'];

consoleTest("console at 375 px: every view fits, primary targets are 44 px", async (env) => {
  const { server } = env;
  await startChat(server, { name: "Анна Смирнова", message: "Здравствуйте, где мой заказ 4711?" });
  await startChat(server, { name: "Boris", message: "Hello" });

  for (const lang of ["ru", "en"]) {
    const { page } = await env.open(PHONE);
    const p = `console-${lang}-375`;
    await page.goto(`${server.url}/console?lang=${lang}`);
    await state(page, `${p}-signin`, ["#signin-btn"]);
    await signIn(page, server, await server.staffToken(`admin-${lang}`, "admin", "Алла"), lang);

    // The inbox: the list with its Accept buttons.
    const accept = "#queue li[data-chat-id] button.accept";
    await page.locator(accept).first().waitFor();
    await state(page, `${p}-inbox`, [...NAV, accept, "#alerts-btn", "#help-btn"]);

    // A chat: back, actions, reply box and Send.
    await page.locator(accept).first().click();
    await page.locator("#chat-messages li.note").first().waitFor();
    const chatTargets = ["#back-btn", "#send-btn", "#transfer-btn", "#close-btn", "#chat-text"];
    await state(page, `${p}-chat`, chatTargets);
    const font = await page.locator("#chat-text").evaluate((e) => getComputedStyle(e).fontSize);
    assert.ok(parseFloat(font) >= 16, `the reply box's text is ${font}`);
    const box = await page.locator("#chat-text").boundingBox();
    assert.ok(box && box.width >= 300, `the reply box is ${box?.width} px wide`);

    // A dialog (transfer) fits and its buttons are big enough.
    await page.click("#transfer-btn");
    await page.locator("#dialog[open]").waitFor();
    await state(page, `${p}-transfer`, ["#dialog-ok", "#dialog-cancel"]);
    await page.click("#dialog-cancel");
    await page.click("#back-btn");
    await page.locator("#my-chats li[data-chat-id]").first().waitFor();

    // Search, statistics, admin.
    await page.click('#views a[data-view="search"]');
    await page.fill("#search-q", lang === "ru" ? "заказ" : "hello");
    await page.click("#search-btn");
    await page.locator("#search-results li").first().waitFor();
    await state(page, `${p}-search`, ["#search-btn", "#search-results .result-btn"]);
    await page.click('#views a[data-view="stats"]');
    await page.locator("#kpi-created").waitFor();
    await state(page, `${p}-stats`, ["#range-apply", "#range-form .preset"]);
    await page.click('#views a[data-view="admin"]');
    await page.locator('#operators tr[data-operator-id^="admin-"]').first().waitFor();
    await state(page, `${p}-admin`, ['[role="tab"]']);
    await page.click("#admin-tab-canned");
    await state(page, `${p}-admin-canned`, ["#canned-new"]);
    await page.click("#canned-new");
    await state(page, `${p}-admin-canned-dialog`, ["#dialog-ok", "#dialog-cancel"]);
    await page.click("#dialog-cancel");
    await page.click("#help-btn");
    await state(page, `${p}-shortcuts`, ["#help-close"]);
    await page.click("#help-close");
  }
});
