/**
 * Attachments in the widget and the console (headless Chromium, real server, local store): the
 * client attaches a photo, the operator sees its thumbnail loaded through the signed URL and
 * answers with a PDF; a refused type is reported in the widget.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Browser } from "playwright-core";
import { startTestServer } from "../integration/_harness.ts";
import {
  launchBrowser,
  newPage,
  screenshot,
  signInOperator,
  startClientChat,
} from "../browser/_browser.ts";
import { FakeS3 } from "./_attachments_fake_s3.ts";
import { PDF, solidPng } from "./_attachments_util.ts";

/** The page's globals these waits read (the predicates run in the browser, not in Deno). */
interface PageGlobal {
  document: {
    querySelectorAll(
      sel: string,
    ): Iterable<{ complete?: boolean; naturalWidth?: number; href?: string }>;
  };
}

Deno.test({
  name: "browser: client attaches a photo, operator sees the thumbnail and answers with a PDF",
  // playwright-core keeps its pipe to the browser open between steps.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "att-browser-" });
    const server = await startTestServer({ ATTACHMENTS_DIR: dir });
    let browser: Browser | null = null;
    try {
      browser = await launchBrowser();
      const op = await newPage(browser);
      const cl = await newPage(browser, { width: 1100, height: 760 });
      await signInOperator(op.page, server, await server.staffToken("op-1"));
      const chatId = await startClientChat(cl.page, server);
      const row = op.page.locator(`#queue li[data-chat-id="${chatId}"]`);
      await row.locator("button.accept").click();
      await cl.page.locator('#messages li.note[data-type="chat_assigned"]').waitFor();

      // The client types a line, then attaches a photo: both go in one message.
      await cl.page.fill("#text", "Here is the damaged box");
      await cl.page.setInputFiles("#attach-input", {
        name: "box.png",
        mimeType: "image/png",
        buffer: Buffer.from(await solidPng(120, 80)),
      });
      const got = op.page.locator("#chat-messages li.msg.theirs", { hasText: "damaged box" });
      const thumb = got.locator("img.att-thumb");
      await thumb.waitFor();
      // The image really loaded (signed URL, served bytes, the page's CSP all agree).
      // A function, not a string: a string predicate is eval'd in the page, which its CSP forbids.
      await op.page.waitForFunction(() =>
        [...(globalThis as unknown as PageGlobal).document.querySelectorAll(
          "#chat-messages img.att-thumb",
        )].some((i) => i.complete && i.naturalWidth === 120)
      );
      assert.match(
        (await thumb.getAttribute("src"))!,
        /\/api\/v1\/chat\/files\/[0-9a-f-]{36}\?exp=/,
      );
      assert.equal(await got.locator(".att-name").textContent(), "box.png");
      assert.equal(await cl.page.inputValue("#text"), "", "the typed text went with the file");
      await screenshot(op.page, "attachments-1-console-thumbnail");

      // The operator answers with a PDF; the client gets a download link.
      await op.page.setInputFiles("#chat-attach-input", {
        name: "label.pdf",
        mimeType: "application/pdf",
        buffer: Buffer.from(PDF),
      });
      const link = cl.page.locator("#messages li.msg.theirs a.att", { hasText: "label.pdf" });
      await link.waitFor();
      await cl.page.waitForFunction(() =>
        [...(globalThis as unknown as PageGlobal).document.querySelectorAll("#messages a.att")]
          .some((a) => (a.href ?? "").includes("/api/v1/chat/files/"))
      );
      const href = (await link.getAttribute("href"))!;
      const res = await fetch(href);
      assert.deepEqual(new Uint8Array(await res.arrayBuffer()), PDF);
      await screenshot(cl.page, "attachments-2-widget-pdf");

      // A type off the allow-list is refused and the widget says so.
      await cl.page.setInputFiles("#attach-input", {
        name: "tool.exe",
        mimeType: "application/x-msdownload",
        buffer: Buffer.from("MZ\x90\x00"),
      });
      await cl.page.locator("#attach-error", { hasText: "not allowed" }).waitFor();
      assert.deepEqual(op.errors, []);
      assert.deepEqual(cl.errors, []);
    } finally {
      await browser?.close();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "browser: with S3 storage the operator's thumbnail loads from the store (the CSP allows it)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const creds = {
      accessKeyId: "AKIDBROWSER",
      secretAccessKey: "browser-secret-key-for-the-fake",
      region: "eu-test-1",
      bucket: "attachments",
    };
    const fake = FakeS3.start(creds);
    const server = await startTestServer({
      ATTACHMENT_STORE: "s3",
      S3_ENDPOINT: fake.url,
      S3_BUCKET: creds.bucket,
      S3_REGION: creds.region,
      S3_ACCESS_KEY_ID: creds.accessKeyId,
      S3_SECRET_ACCESS_KEY: creds.secretAccessKey,
    });
    let browser: Browser | null = null;
    try {
      browser = await launchBrowser();
      const op = await newPage(browser);
      const cl = await newPage(browser, { width: 1100, height: 760 });
      await signInOperator(op.page, server, await server.staffToken("op-s3"));
      const chatId = await startClientChat(cl.page, server);
      await op.page.locator(`#queue li[data-chat-id="${chatId}"] button.accept`).click();
      await cl.page.locator('#messages li.note[data-type="chat_assigned"]').waitFor();
      await cl.page.setInputFiles("#attach-input", {
        name: "crate.png",
        mimeType: "image/png",
        buffer: Buffer.from(await solidPng(90, 60)),
      });
      const thumb = op.page.locator("#chat-messages li.msg.theirs img.att-thumb");
      await thumb.waitFor();
      await op.page.waitForFunction(() =>
        [...(globalThis as unknown as PageGlobal).document.querySelectorAll(
          "#chat-messages img.att-thumb",
        )].some((i) => i.complete && i.naturalWidth === 90)
      );
      assert.ok((await thumb.getAttribute("src"))!.startsWith(`${fake.url}/${creds.bucket}/`));
      await screenshot(op.page, "attachments-3-console-s3-thumbnail");
      assert.deepEqual(op.errors, []);
      assert.deepEqual(cl.errors, []);
    } finally {
      await browser?.close();
      await server.shutdown();
      await fake.close();
    }
  },
});
