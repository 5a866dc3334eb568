/**
 * `followBottom` (web/dom.js) in headless Chromium, the race behind a flaky widget_scroll_test:
 * the scroll event of the list's own jump to the bottom is dispatched at the next frame, and a
 * row that grows before that frame (a thumbnail decoding, under load) made the handler read the
 * list as scrolled up by the reader, so the list stopped following and stayed 160 px above its
 * end. Only the reader's scrolling may stop the following.
 */
import assert from "node:assert/strict";
import { browserTest, newPage } from "./_browser.ts";

// deno-lint-ignore no-explicit-any
declare const document: any;
// deno-lint-ignore no-explicit-any
declare const requestAnimationFrame: any;

/** In the page: a 300 px list with 20 rows, following its bottom; returns its distance from it. */
const scenario = async (
  { growBeforeFrame, readerScrolls }: { growBeforeFrame: boolean; readerScrolls: boolean },
): Promise<number> => {
  const { followBottom } = await import(String("/static/dom.js"));
  const list = document.createElement("ul");
  list.style.cssText = "height:300px;overflow:auto;margin:0;padding:0;overflow-anchor:none";
  for (let i = 0; i < 20; i++) {
    const li = document.createElement("li");
    li.style.height = "40px";
    list.append(li);
  }
  document.body.replaceChildren(list);
  list.scrollTop = list.scrollHeight;
  followBottom(list);
  const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  await frame();
  // A new row: the list jumps to its bottom (its scroll event comes at the next frame)...
  const row = document.createElement("li");
  row.style.height = "40px";
  list.append(row);
  await Promise.resolve(); // the MutationObserver's jump
  // ...and the row grows before that frame, as a thumbnail does.
  if (growBeforeFrame) row.style.height = "200px";
  await frame();
  await frame();
  if (readerScrolls) {
    list.scrollTop -= 150;
    await frame();
    row.style.height = "260px";
    await frame();
    await frame();
  }
  return list.scrollHeight - list.clientHeight - list.scrollTop;
};

browserTest(
  "browser: followBottom keeps following when a row grows before its own jump's scroll event",
  async ({ server, browser }) => {
    const { page } = await newPage(browser, { width: 800, height: 600 });
    await page.goto(`${server.url}/`);
    const run = (growBeforeFrame: boolean, readerScrolls: boolean) =>
      page.evaluate(scenario, { growBeforeFrame, readerScrolls });
    assert.equal(await run(false, false), 0, "a plain new row");
    assert.equal(await run(true, false), 0, "a row grown before its jump's scroll event");
    // The reader scrolling up still stops the following: the growth after it is not chased.
    const off = await run(true, true);
    assert.ok(off >= 150, `the reader's place is kept (${off} px above the end)`);
  },
);
