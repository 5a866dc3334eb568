/**
 * Nobody online, and things going wrong (headless Chromium), in English and Russian: the widget
 * offers the offline message form with the reply promise; a proxy's HTML error page, a network
 * failure and a 429 with Retry-After are said in the reader's words (never "Failed to fetch",
 * "Unexpected token" or an HTTP code), the button waits as long as the server asked; the message
 * left reaches staff with the e-mail, and an operator who comes online answers it in the chat.
 */
import assert from "node:assert/strict";
import type { Browser, Page, Route } from "playwright-core";
import { startTestServer } from "../integration/_harness.ts";
import { assertAccessible } from "./_a11y.ts";
import { launchBrowser, newPage, screenshot } from "./_browser.ts";
import { type Lang, Staff, storedChat, text } from "./_widget.ts";

const RAW = /Failed to fetch|Unexpected token|HTTP|\b50\d\b|\b429\b|NetworkError|JSON/;

for (const lang of ["en", "ru"] as const) {
  Deno.test({
    name: `browser: widget (${lang}): nobody online → the offline message form; errors in ` +
      "the reader's words with Retry-After; staff get the message and answer it",
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => offlineFlow(lang),
  });
}

/** Submits the offline form with `route` answering `POST /chats`; resolves with the error shown. */
async function failedSubmit(page: Page, answer: (r: Route) => Promise<void>) {
  await page.route("**/api/v1/chat/chats", answer);
  await page.click("#offline-btn");
  const error = page.locator("#offline-error");
  await error.waitFor();
  const shown = (await error.textContent()) ?? "";
  await page.unroute("**/api/v1/chat/chats");
  assert.doesNotMatch(shown, RAW, `a raw error reached the page: ${shown}`);
  return shown;
}

async function offlineFlow(lang: Lang) {
  const tx = (key: string, params?: Record<string, string | number>) => text(lang, key, params);
  const server = await startTestServer();
  let browser: Browser | null = null;
  let op: Staff | null = null;
  try {
    browser = await launchBrowser();
    const { page, errors } = await newPage(browser, { width: 1100, height: 760 });
    page.setDefaultTimeout(10_000);
    await page.goto(`${server.url}/?lang=${lang}`);

    // Nobody online: the offline form and the promise of an answer.
    await page.locator("#offline-view h2", { hasText: await tx("widget.offline.title") })
      .waitFor();
    await page.locator("#offline-promise", {
      hasText: await tx("widget.offline.promise", { count: 24 }),
    }).waitFor();
    await page.locator("#status-line", { hasText: await tx("widget.status.away") }).waitFor();
    await assertAccessible(page, `${lang} offline form`);
    await screenshot(page, `widget-${lang}-offline-1-form`);

    const email = "olga@example.com";
    await page.fill("#offline-name", "Olga");
    await page.fill("#offline-email", email);
    await page.fill("#offline-message", "Please call me back about order 4711");

    // The network fails: an offline/retry wording.
    assert.equal(
      await failedSubmit(page, (r) => r.abort("internetdisconnected")),
      await tx("common.error.network"),
    );
    // A proxy's HTML page instead of our JSON.
    assert.equal(
      await failedSubmit(
        page,
        (r) =>
          r.fulfill({
            status: 502,
            contentType: "text/html",
            body: "<html><h1>Bad gateway</h1></html>",
          }),
      ),
      await tx("error.unavailable"),
    );
    // Too many new chats: the server's code, and the wait it asked for; the button waits too.
    const limited = await failedSubmit(page, (r) =>
      r.fulfill({
        status: 429,
        contentType: "application/json",
        headers: { "retry-after": "2" },
        body: JSON.stringify({
          error: { code: "rate_limited", message: "Too many new chats", retryable: true },
        }),
      }));
    const wait = lang === "ru" ? "2 с" : "2 sec";
    assert.equal(
      limited,
      `${await tx("error.rate_limited")} ${await tx("common.error.retry_in", { time: wait })}`,
    );
    assert.equal(await page.locator("#offline-btn").isDisabled(), true, "waits for Retry-After");
    await assertAccessible(page, `${lang} error`);
    await screenshot(page, `widget-${lang}-offline-2-error`);
    await page.locator("#offline-btn:enabled").waitFor({ timeout: 5_000 });

    // Sent: the conversation, with the promise, and no error left.
    await page.click("#offline-btn");
    await page.locator("#queue-banner", {
      hasText: await tx("widget.queue.offline_email", { count: 24, email }),
    }).waitFor();
    await page.locator("#messages li.msg.mine", { hasText: "order 4711" }).waitFor();
    await page.locator("#messages li.note", { hasText: await tx("widget.note.offline_created") })
      .waitFor();
    assert.equal(await page.locator(".error:visible").count(), 0, "no stale error");
    await assertAccessible(page, `${lang} offline message sent`);
    await screenshot(page, `widget-${lang}-offline-3-sent`);

    // Staff see it: the e-mail on the profile, `offline` on the chat, the message.
    const { chat_id: chatId, client_token: token } = await storedChat(page);
    const admin = await server.staffToken("adm", "admin");
    const profile = await (await fetch(`${server.url}/api/v1/chat/chats/${chatId}/client`, {
      headers: { authorization: `Bearer ${admin}` },
    })).json();
    assert.equal(profile.email, email);
    assert.equal(profile.name, "Olga");
    const history = await (await fetch(
      `${server.url}/api/v1/chat/chats/${chatId}/history?token=${token}`,
    )).json();
    assert.equal(history.events[0].payload.offline, true);

    // An operator comes online later and answers in the chat.
    op = await Staff.connect(server, "op-1", "operator", "Anna");
    await op.ok("accept_chat", { chat_id: chatId });
    await op.say(chatId, "Hello Olga, calling you now.");
    await page.locator("#messages li.msg.theirs", { hasText: "calling you now" }).waitFor();
    await page.locator("#queue-banner").waitFor({ state: "hidden" });
    assert.deepEqual(errors.filter((e) => !/ERR_INTERNET_DISCONNECTED|502|429/.test(e)), []);
  } finally {
    await op?.close();
    await browser?.close();
    await server.shutdown();
  }
}
