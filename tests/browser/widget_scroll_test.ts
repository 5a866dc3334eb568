/**
 * The conversation keeps following its newest rows after an image (headless Chromium): a long
 * conversation, then an image whose thumbnail grows its row after the row was added, then
 * replies, a transfer note and the close note — each in view at the bottom of the list, within
 * 2 px. (With the `keepScrolledToBottom` of 0b4f143, which measured before the thumbnail grew the
 * list, the list stayed 160 px above its end from the image on.)
 */
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { startTestServer } from "../integration/_harness.ts";
import { solidPng, uploadMultipart } from "../integrations/_attachments_util.ts";
import { launchBrowser, newPage, screenshot } from "./_browser.ts";
import { distanceFromBottom, inListView, type Lang, Staff, storedChat, text } from "./_widget.ts";

// deno-lint-ignore no-explicit-any
declare const document: any;

/**
 * The list comes to rest at its very bottom with `item` (the newest row) in view. Waited for,
 * not sampled: an image's `load` and the resize that follows it are tasks of their own.
 */
async function atEnd(page: Page, item: string, what: string) {
  const settled = await page.waitForFunction(
    ([sel]) => {
      const list = document.querySelector("#messages");
      const row = document.querySelector(sel);
      if (!list || !row) return false;
      const box = list.getBoundingClientRect();
      const r = row.getBoundingClientRect();
      const off = list.scrollHeight - list.clientHeight - list.scrollTop;
      return Math.abs(off) <= 2 && r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
    },
    [item],
    { timeout: 3_000 },
  ).then(() => true, () => false);
  if (settled) return;
  const off = await distanceFromBottom(page, "#messages");
  const seen = await inListView(page, "#messages", item);
  assert.fail(`${what}: the list stays ${off}px above its end (newest row in view: ${seen})`);
}

for (const lang of ["en", "ru"] as const) {
  Deno.test({
    name: `browser: widget (${lang}): the conversation follows replies, a transfer and the ` +
      "close after an image thumbnail grew the list",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => scrollFlow(lang),
  });
}

async function scrollFlow(lang: Lang) {
  const dir = await Deno.makeTempDir({ prefix: "widget-scroll-" });
  const server = await startTestServer({ ATTACHMENTS_DIR: dir });
  const anna = await Staff.connect(server, "op-1", "operator", "Anna");
  const boris = await Staff.connect(server, "op-2", "operator", "Boris");
  let browser: Browser | null = null;
  try {
    browser = await launchBrowser();
    const { page, errors } = await newPage(browser, { width: 1000, height: 700 });
    page.setDefaultTimeout(10_000);
    await page.goto(`${server.url}/?lang=${lang}`);
    await page.click("#start-btn");
    await page.locator("#queue-banner").waitFor();
    const { chat_id: chatId } = await storedChat(page);
    await anna.ok("accept_chat", { chat_id: chatId });

    // Enough conversation to scroll.
    for (let i = 1; i <= 14; i++) await anna.say(chatId, `Line ${i} of a long answer`);
    await page.locator("#messages li.msg", { hasText: "Line 14 of" }).waitFor();
    await atEnd(page, "#messages li.msg:last-child", "before the image");

    // An image: its row is added, then its thumbnail loads and grows it by 160 px.
    const token = await server.staffToken("op-1", "operator", "Anna");
    const up = await uploadMultipart(
      server.url,
      chatId,
      token,
      await solidPng(200, 160),
      "image/png",
      "receipt.png",
    );
    assert.equal(up.status, 201, JSON.stringify(up.body));
    await anna.say(chatId, "Here is your receipt", [String(up.body.id)]);
    await page.waitForFunction(() => {
      const img = document.querySelector("#messages img.att-thumb");
      return img?.complete && img.naturalWidth > 0;
    });
    await atEnd(page, "#messages li.msg:last-child", "after the thumbnail loaded");

    // Replies, a transfer and the close: each lands in view.
    await anna.say(chatId, "Anything else I can help with?");
    await page.locator("#messages li.msg", { hasText: "Anything else" }).waitFor();
    await atEnd(page, "#messages li.msg:last-child", "a reply after the image");
    await anna.ok("transfer_chat", {
      chat_id: chatId,
      target_operator_id: "op-2",
      reason: "Billing",
    });
    const transfer = '#messages li.note[data-type="chat_transferred"]';
    await page.locator(transfer).waitFor();
    await atEnd(page, transfer, "the transfer note");
    await boris.say(chatId, "Boris here, all sorted.");
    await page.locator("#messages li.msg", { hasText: "Boris here" }).waitFor();
    await atEnd(page, "#messages li.msg:last-child", "the new agent's reply");
    await boris.ok("close_chat", { chat_id: chatId, reason: "Solved" });
    const closed = '#messages li.note[data-type="chat_closed"]';
    await page.locator(closed).waitFor();
    await page.locator("#rate-view h2", { hasText: await text(lang, "widget.rate.title") })
      .waitFor();
    await atEnd(page, closed, "the close note (with the rating below the list)");
    await screenshot(page, `widget-${lang}-scroll-after-image`);
    assert.deepEqual(errors, []);
  } finally {
    await anna.close();
    await boris.close();
    await browser?.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}
