/**
 * Console alerts while its tab is in the background (notifications granted to the origin, the tab
 * hidden as browsers tell a page): a new chat in the queue, a chat transferred to me and a
 * message in my chat each chime (WebAudio) and show a desktop notification, counted in the title
 * and on the favicon; a click on a notification opens its chat; back in front the counts clear and
 * a tab being looked at only chimes. In Russian too, and an offer in auto routing.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import type { Frame } from "../integration/_harness.ts";
import { setHidden } from "./_widget.ts";
import {
  check,
  clientSocket,
  type ConsoleEnv,
  consoleTest,
  signIn,
  startChat,
} from "./_console.ts";

// Page globals, used inside `page.evaluate` callbacks.
// deno-lint-ignore no-explicit-any
declare const document: any, Image: any, OscillatorNode: any;

interface Shown {
  title: string;
  body: string;
}
interface Recorded {
  shown: Shown[];
  notes: Array<{ onclick(): void }>;
  tones: number[];
}

/** Before the page's scripts: keeps every notification shown (still shown) and tone started. */
function recordAlerts() {
  const rec: Recorded = { shown: [], notes: [], tones: [] };
  // deno-lint-ignore no-explicit-any
  const w = globalThis as any;
  w.__alerts = rec;
  w.Notification = new Proxy(w.Notification, {
    construct(target, args): object {
      rec.shown.push({ title: args[0], body: args[1]?.body ?? "" });
      const note = Reflect.construct(target, args) as { onclick(): void };
      rec.notes.push(note);
      return note;
    },
  });
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (this: { frequency: { value: number } }, ...a: []) {
    rec.tones.push(this.frequency.value);
    return start.apply(this, a);
  };
}

const recorded = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { __alerts: Recorded }).__alerts);

/** Notification number `n` (1-based), once the page has shown it. */
async function nth(page: Page, n: number): Promise<Shown> {
  await page.waitForFunction(
    (k) => (globalThis as unknown as { __alerts: Recorded }).__alerts.shown.length >= k,
    n,
  );
  return (await recorded(page)).shown[n - 1];
}

/** Whether the favicon carries the red count badge (a pixel left of its digit). */
function badged(page: Page) {
  return page.evaluate(async () => {
    const img = new Image();
    img.src = document.querySelector("#favicon").href;
    await img.decode();
    const c = document.createElement("canvas");
    c.width = c.height = 32;
    const g = c.getContext("2d");
    g.drawImage(img, 0, 0);
    const [r, gr, b] = g.getImageData(15, 12, 1, 1).data;
    return r > 180 && gr < 80 && b < 80;
  });
}

/**
 * A console signed in with notifications granted and switched on in its alerts dialog (the
 * clicks are the gesture that lets it play sound), then sent to the background. Resolves with
 * the page and its title without a count.
 */
async function backgroundConsole(
  env: ConsoleEnv,
  who: { sub: string; name: string; lang: string },
) {
  const { context, page } = await env.open();
  await context.grantPermissions(["notifications"], { origin: env.server.url });
  await page.addInitScript(recordAlerts);
  await signIn(
    page,
    env.server,
    await env.server.staffToken(who.sub, "operator", who.name),
    who.lang,
  );
  await page.click("#alerts-btn");
  await page.check("#alert-desktop");
  assert.ok(await page.isChecked("#alert-desktop"), "desktop notifications are on");
  await check(page, `console-${who.lang}-alerts-dialog`);
  await page.click("#alerts-close");
  const base = await page.title();
  await setHidden(page, true);
  return { page, base };
}

const titled = (page: Page, title: string) =>
  page.waitForFunction((t) => document.title === t, title);

const ok = (f: Frame) => assert.equal(f.type, "ack", JSON.stringify(f));

consoleTest(
  "console alerts: a background tab is told of a new chat, a transfer to me and a message",
  async (env) => {
    const { server } = env;
    const pavel = await env.staff("op-2", "operator", "Pavel");
    const { page, base } = await backgroundConsole(env, { sub: "op-1", name: "Olga", lang: "en" });

    // A new chat in the queue: chime (two rising notes), notification, title and favicon count.
    await startChat(server, { name: "Anna", message: "Is anyone there?" });
    assert.equal((await nth(page, 1)).title, "New chat in the queue");
    await page.waitForFunction(() =>
      (globalThis as unknown as { __alerts: Recorded }).__alerts.tones.length >= 2
    );
    assert.deepEqual((await recorded(page)).tones.slice(0, 2), [520, 660]);
    await titled(page, `(1) ${base}`);
    assert.ok(await badged(page), "the favicon shows the count");
    await check(page, "console-en-alerts-background");

    // A colleague hands me a chat with a reason; its client writes.
    const boris = await startChat(server, { name: "Boris", message: "Billing question" });
    await nth(page, 2);
    ok(await pavel.request("accept_chat", { chat_id: boris.chat_id }));
    ok(
      await pavel.request("transfer_chat", {
        chat_id: boris.chat_id,
        target_operator_id: "op-1",
        reason: "Billing is Olga's",
      }),
    );
    assert.deepEqual(await nth(page, 3), {
      title: "A chat was transferred to you",
      body: "Billing is Olga's",
    });
    const borisSocket = await clientSocket(server, boris);
    borisSocket.send("message", { text: "My card was charged twice" });
    assert.deepEqual(await nth(page, 4), {
      title: "New message from Boris",
      body: "My card was charged twice",
    });
    await titled(page, `(4) ${base}`);
    borisSocket.ws.close();

    // A click on the message's notification opens that chat; back in front, the counts clear.
    await page.evaluate(() =>
      (globalThis as unknown as { __alerts: Recorded }).__alerts.notes[3].onclick()
    );
    await page.locator("#chat-title", { hasText: "Boris" }).waitFor();
    await setHidden(page, false);
    await titled(page, base);
    assert.equal(await badged(page), false, "no badge once looked at");

    // A tab being looked at only chimes: no notification, no count.
    const before = await recorded(page);
    await startChat(server, { name: "Carl", message: "Hello" });
    await page.locator("#queue li[data-chat-id]", { hasText: "Carl" }).waitFor();
    await page.waitForFunction(
      (n) => (globalThis as unknown as { __alerts: Recorded }).__alerts.tones.length > n,
      before.tones.length,
    );
    assert.equal((await recorded(page)).shown.length, before.shown.length);
    assert.equal(await page.title(), base);

    // Russian: the same alert in Russian words.
    const ru = await backgroundConsole(env, { sub: "op-3", name: "Ирина", lang: "ru" });
    await startChat(server, { name: "Дарья", message: "Здравствуйте" });
    assert.equal((await nth(ru.page, 1)).title, "Новый чат в очереди");
    await titled(ru.page, `(1) ${ru.base}`);
    await check(ru.page, "console-ru-alerts-background");
  },
);

consoleTest(
  "console alerts: an offer in auto routing reaches a background tab",
  async (env) => {
    const { page, base } = await backgroundConsole(env, { sub: "op-1", name: "Olga", lang: "en" });
    const chat = await startChat(env.server, { name: "Anna", message: "Hello" });
    await page.waitForFunction(
      (t) =>
        (globalThis as unknown as { __alerts: Recorded }).__alerts.shown.some((s) => s.title === t),
      "A chat is offered to you",
    );
    await page.locator(`#offers li[data-chat-id="${chat.chat_id}"]`).waitFor();
    const title = await page.title();
    assert.ok(/^\(\d\) /.test(title) && title.endsWith(base), title);
    const tones = (await recorded(page)).tones;
    assert.ok(tones.join().includes("660,880"), `an offer's chime: ${tones}`);
  },
  { env: { ROUTING_MODE: "auto" } },
);
