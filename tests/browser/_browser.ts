/**
 * Browser test helpers: headless Debian Chromium driven by playwright-core, screenshots under
 * test-output/screenshots/, and the page steps both pages' tests share (start a chat, sign in).
 */
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import type { Clock } from "../../src/runtime/clock.ts";
import { startTestServer, type TestServer } from "../integration/_harness.ts";

export const CHROMIUM = "/usr/bin/chromium";
const SHOTS = new URL("../../test-output/screenshots/", import.meta.url);

/** Launches Chromium, or fails loudly (never skips) when Debian's chromium is not installed. */
export async function launchBrowser(): Promise<Browser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}: the browser tests need Debian's chromium. ` +
        "Install it with: apt-get update && apt-get install -y chromium",
    );
  }
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * A browser test: starts a server (with `setup.env` settings and `setup.clock`, if given) and
 * Chromium, runs `fn`, and closes browser and server whatever happened.
 */
export function browserTest(
  name: string,
  fn: (env: { server: TestServer; browser: Browser }) => Promise<void>,
  setup: { env?: Record<string, string>; clock?: Clock } = {},
): void {
  Deno.test({
    name,
    // playwright-core keeps its pipe to the browser open between steps.
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const server = await startTestServer(setup.env, { clock: setup.clock });
      let browser: Browser | null = null;
      try {
        browser = await launchBrowser();
        await fn({ server, browser });
      } finally {
        await browser?.close();
        await server.shutdown();
      }
    },
  });
}

/** A fresh context (own storage, own network) with one page that reports page errors. */
export async function newPage(
  browser: Browser,
  size = { width: 1280, height: 800 },
): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: size });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) errors.push(m.text());
  });
  return { context, page, errors };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: new URL(`${name}.png`, SHOTS).pathname });
}

/** Opens the widget and starts a chat; resolves with the chat id the widget stored. */
export async function startClientChat(page: Page, server: TestServer): Promise<string> {
  await page.goto(`${server.url}/`);
  await page.click("#start-btn");
  await page.locator("#chat-view").waitFor();
  const chatId = await page.evaluate(() =>
    JSON.parse(localStorage.getItem("supportchat.session") ?? "{}").chat_id as string
  );
  if (!chatId) throw new Error("the widget stored no chat");
  return chatId;
}

/** Opens the console and signs in with a staff token. */
export async function signInOperator(page: Page, server: TestServer, token: string) {
  await page.goto(`${server.url}/console`);
  await page.fill("#token", token);
  await page.click("#signin-btn");
  await page.locator("#conn-status", { hasText: "Connected" }).waitFor();
}

/** The messages a page shows: `[seq, text]` in DOM order (stored ones only). */
export async function shownMessages(page: Page, list: string): Promise<Array<[number, string]>> {
  const items = page.locator(`${list} li.msg[data-seq]`);
  const out: Array<[number, string]> = [];
  for (const item of await items.all()) {
    const seq = Number(await item.getAttribute("data-seq"));
    out.push([seq, (await item.locator(".bubble").textContent()) ?? ""]);
  }
  return out;
}

/** `[seq, text]` of every message in the chat's history (REST, client token). */
export async function historyMessages(
  server: TestServer,
  chatId: string,
  token: string,
): Promise<Array<[number, string]>> {
  const res = await fetch(
    `${server.url}/api/v1/chat/chats/${chatId}/history?limit=500&token=${
      encodeURIComponent(token)
    }`,
  );
  if (!res.ok) throw new Error(`history: HTTP ${res.status}`);
  const page = await res.json() as {
    events: Array<{ type: string; payload: { seq: number; message?: string } }>;
  };
  return page.events.filter((e) => e.type === "message").map((e) => [
    e.payload.seq,
    e.payload.message!,
  ]);
}
