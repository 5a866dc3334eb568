/**
 * The widget on a 375×667 phone (headless Chromium, touch), in English and Russian: no sideways
 * scroll, every control at least 44×44 px and inputs at 16 px in each state, the composer on
 * screen with the newest message in view; files pasted into the composer or dropped on the widget
 * (with a visible drop zone) go through the attach button's checks and reach the agent.
 */
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { startTestServer } from "../integration/_harness.ts";
import { solidPng } from "../integrations/_attachments_util.ts";
import { assertAccessible } from "./_a11y.ts";
import { launchBrowser, screenshot } from "./_browser.ts";
import {
  assertNoSideScroll,
  distanceFromBottom,
  type Lang,
  smallTargets,
  Staff,
  storedChat,
  text,
} from "./_widget.ts";

// Page globals, used inside `page.evaluate` callbacks.
// deno-lint-ignore no-explicit-any
declare const document: any, DataTransfer: any, ClipboardEvent: any;

const PHONE = { width: 375, height: 667 };

for (const lang of ["en", "ru"] as const) {
  Deno.test({
    name: `browser: widget (${lang}) at 375×667: 44 px targets, 16 px inputs, no sideways ` +
      "scroll, composer and newest message on screen; paste and drop files",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => phoneFlow(lang),
  });
}

/** A phone-sized page passes the layout checks in `state`. */
async function fitsPhone(page: Page, state: string) {
  await assertNoSideScroll(page, state);
  assert.deepEqual(await smallTargets(page), [], `${state}: controls under 44 px or 16 px`);
}

/** A DataTransfer in the page holding one file (bytes given). */
function filesIn(page: Page, name: string, type: string, bytes: number[]) {
  return page.evaluateHandle(([n, t, b]) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(b as number[])], n as string, { type: t as string }));
    return dt;
  }, [name, type, bytes] as const);
}

async function phoneFlow(lang: Lang) {
  const tx = (key: string, params?: Record<string, string | number>) => text(lang, key, params);
  const dir = await Deno.makeTempDir({ prefix: "widget-phone-" });
  const server = await startTestServer({ ATTACHMENTS_DIR: dir });
  const anna = await Staff.connect(server, "op-1", "operator", "Anna Smirnova");
  let browser: Browser | null = null;
  try {
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.setDefaultTimeout(10_000);
    await page.goto(`${server.url}/?lang=${lang}`);
    await page.locator("#availability").waitFor();
    await fitsPhone(page, `${lang} start`);
    await screenshot(page, `widget-${lang}-phone-1-start`);

    await page.click("#start-btn");
    await page.locator("#queue-banner").waitFor();
    const { chat_id: chatId } = await storedChat(page);
    await anna.ok("accept_chat", { chat_id: chatId });
    for (let i = 1; i <= 16; i++) await anna.say(chatId, `Answer line ${i}`);
    await page.locator("#messages li.msg", { hasText: "Answer line 16" }).waitFor();

    // The newest message and the composer are on screen, the list at its end.
    assert.ok(Math.abs(await distanceFromBottom(page, "#messages")) <= 2, "list at its end");
    const composer = (await page.locator("#composer").boundingBox())!;
    assert.ok(composer.y + composer.height <= PHONE.height, `composer on screen: ${composer.y}`);
    const newest = (await page.locator("#messages li.msg").last().boundingBox())!;
    assert.ok(newest.y + newest.height <= composer.y, "the newest message above the composer");
    await fitsPhone(page, `${lang} chat`);
    // The agent's name is whole in the header ("End chat" takes two lines if need be).
    assert.ok(
      await page.locator("#title").evaluate((h) => h.scrollWidth <= h.clientWidth),
      "the agent's name is cut off",
    );
    await assertAccessible(page, `${lang} phone chat`);
    await screenshot(page, `widget-${lang}-phone-2-chat`);

    // A file pasted into the composer is sent, with the text typed so far.
    await page.fill("#text", "The receipt:");
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(["total 42.00\n"], "receipt.txt", { type: "text/plain" }));
      const paste = new ClipboardEvent("paste", {
        clipboardData: dt,
        bubbles: true,
        cancelable: true,
      });
      document.querySelector("#text").dispatchEvent(paste);
    });
    const pasted = await anna.ws.next((f) =>
      f.type === "message" && f.payload.sender_role === "client" &&
      (f.payload.attachments as Array<{ name: string }> | undefined)?.[0]?.name === "receipt.txt"
    );
    assert.equal(pasted.payload.message, "The receipt:");
    // Its size in the reader's words (CLDR's short English unit reads "12 byte").
    await page.locator("#messages li.msg.mine .att-size", {
      hasText: lang === "en" ? /^12 bytes$/ : /^12 байт$/,
    }).waitFor();

    // Dragging a file over the widget shows the drop zone; dropping it sends it.
    const png = [...await solidPng(120, 90, [234, 88, 12])]; // orange: seen on the blue bubble
    const photo = await filesIn(page, "photo.png", "image/png", png);
    await page.dispatchEvent("#widget", "dragenter", { dataTransfer: photo });
    await page.dispatchEvent("#widget", "dragover", { dataTransfer: photo });
    await page.locator("#drop-hint", { hasText: await tx("widget.drop") }).waitFor();
    await screenshot(page, `widget-${lang}-phone-3-drop-zone`);
    await page.dispatchEvent("#widget", "drop", { dataTransfer: photo });
    await page.locator("#drop-hint").waitFor({ state: "hidden" });
    await anna.ws.next((f) =>
      f.type === "message" &&
      (f.payload.attachments as Array<{ name: string }> | undefined)?.[0]?.name === "photo.png"
    );
    await page.locator("#messages li.msg.mine img.att-thumb").waitFor();

    // A dropped file of a refused type meets the attach button's check and message.
    const exe = await filesIn(page, "tool.exe", "application/x-msdownload", [77, 90, 144, 0]);
    await page.dispatchEvent("#widget", "drop", { dataTransfer: exe });
    await page.locator("#attach-error", { hasText: await tx("common.attach.type_refused") })
      .waitFor();

    // The menu and the rating fit the phone too.
    await page.click("#menu-btn");
    await fitsPhone(page, `${lang} menu`);
    await screenshot(page, `widget-${lang}-phone-4-menu`);
    await page.keyboard.press("Escape");
    await anna.ok("close_chat", { chat_id: chatId, reason: "Solved" });
    await page.locator("#rate-view").waitFor();
    await fitsPhone(page, `${lang} rating`);
    await assertAccessible(page, `${lang} phone rating`);
    await screenshot(page, `widget-${lang}-phone-5-rating`);
    assert.deepEqual(errors, []);
  } finally {
    await anna.close();
    await browser?.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}
