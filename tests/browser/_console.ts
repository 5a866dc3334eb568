/**
 * Helpers of the console's browser tests: sign in (any language), start chats as a client with
 * a name, e-mail, page and device, a client's own WebSocket that records what it receives, the
 * accessibility check of a state, and a screenshot per language and size.
 */
import assert from "node:assert/strict";
import type { Browser, BrowserContext, Page } from "playwright-core";
import type { StaffRole } from "../../src/auth/principal.ts";
import type { Clock } from "../../src/runtime/clock.ts";
import { type TestServer, WsClient } from "../integration/_harness.ts";
import { assertAccessible } from "./_a11y.ts";
import { browserTest, newPage, screenshot } from "./_browser.ts";

export const DESKTOP = { width: 1360, height: 860 };
export const PHONE = { width: 375, height: 740 };

/** What a console test gets: its own server and Chromium, pages and staff sockets. */
export interface ConsoleEnv {
  server: TestServer;
  browser: Browser;
  /** A fresh page (own context); its page errors fail the test at the end. */
  open(size?: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page }>;
  /** A staff member connected over WebSocket (known to the roster from then on). */
  staff(sub: string, role?: StaffRole, name?: string): Promise<WsClient>;
}

/**
 * A console browser test: a {@link browserTest} that also fails on any page error of the pages it
 * opened, and closes the staff sockets it connected whatever happened.
 */
export function consoleTest(
  name: string,
  fn: (env: ConsoleEnv) => Promise<void>,
  setup: { env?: Record<string, string>; clock?: Clock } = {},
): void {
  browserTest(name, async ({ server, browser }) => {
    const sockets: WsClient[] = [];
    const errors: string[][] = [];
    try {
      await fn({
        server,
        browser,
        open: async (size = DESKTOP) => {
          const p = await newPage(browser, size);
          errors.push(p.errors);
          return p;
        },
        staff: async (sub, role = "operator", name) => {
          const ws = await WsClient.connect(
            server.wsUrl(await server.staffToken(sub, role, name)),
          );
          sockets.push(ws);
          return ws;
        },
      });
      assert.deepEqual(errors.flat(), [], "no page errors");
    } finally {
      for (const s of sockets) s.ws.close();
    }
  }, setup);
}

/** Opens the console (in `lang`, if given) and signs in; resolves once connected. */
export async function signIn(page: Page, server: TestServer, token: string, lang?: string) {
  await page.goto(`${server.url}/console${lang ? `?lang=${lang}` : ""}`);
  await page.fill("#token", token);
  await page.click("#signin-btn");
  await page.locator('#conn-status[data-tone="ok"]').waitFor();
}

export interface StartedChat {
  chat_id: string;
  client_id: string;
  client_token: string;
  visitor_token: string;
}

/** A client starts a chat the way the widget does, with a profile and a first message. */
export async function startChat(
  server: TestServer,
  o: { name?: string; email?: string; message?: string; attributes?: Record<string, string> },
): Promise<StartedChat> {
  const res = await fetch(`${server.url}/api/v1/chat/chats`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(o),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return await res.json();
}

/** The chat's client on its own WebSocket: every frame it receives is kept. */
export async function clientSocket(server: TestServer, chat: StartedChat): Promise<WsClient> {
  return await WsClient.connect(server.wsUrl(chat.client_token, { chat_id: chat.chat_id }));
}

/** Every text the client could ever see of its chat: live frames and the stored history. */
export async function clientVisibleText(
  server: TestServer,
  chat: StartedChat,
  socket: WsClient,
): Promise<string> {
  const res = await fetch(
    `${server.url}/api/v1/chat/chats/${chat.chat_id}/history?limit=500&token=${
      encodeURIComponent(chat.client_token)
    }`,
  );
  assert.equal(res.status, 200);
  return JSON.stringify(await res.json()) + JSON.stringify(socket.frames);
}

/** axe over the page, and a screenshot named after the state. */
export async function check(page: Page, name: string): Promise<void> {
  await assertAccessible(page, name);
  await screenshot(page, name);
}

/** The ids of the rows of a list, in order. */
export async function rowIds(page: Page, list: string): Promise<string[]> {
  return await page.locator(`${list} > li[data-chat-id]`).evaluateAll((els) =>
    els.map((e) => e.getAttribute("data-chat-id") ?? "")
  );
}

/** Browser-like attributes the widget sends (page, device, language, time zone). */
export const VISIT = {
  page_url: "https://shop.example.com/orders/4711",
  page_title: "Order 4711 · Example shop",
  user_agent:
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
  language: "ru-RU",
  timezone: "Europe/Moscow",
  plan: "gold",
};
