/** The static web routes: pages, content types, the CSP, and nothing outside web/. */
import assert from "node:assert/strict";
import { startTestServer } from "../integration/_harness.ts";

Deno.test("web routes: pages and assets with their types and a strict CSP", async () => {
  await using server = await startTestServer();
  const get = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init);

  for (
    const [path, type, framing] of [
      ["/", "text/html", "frame-ancestors *"],
      ["/console", "text/html", "frame-ancestors 'none'"],
      ["/embed.js", "text/javascript", "frame-ancestors 'none'"],
      ["/static/chat_client.js", "text/javascript", null],
      ["/static/console/main.js", "text/javascript", null],
      ["/static/base.css", "text/css", null],
    ] as const
  ) {
    const res = await get(path);
    const body = await res.text();
    assert.equal(res.status, 200, path);
    assert.ok(body.length > 0, path);
    assert.ok(res.headers.get("content-type")?.startsWith(type), `${path}: content type`);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/, "same-origin scripts only, no inline");
    assert.match(csp, /connect-src 'self' ws:\/\/127\.0\.0\.1:\d+ wss:\/\/127\.0\.0\.1:\d+/);
    if (framing) assert.ok(csp.includes(framing), `${path}: ${framing}`);
  }
  assert.equal((await get("/console")).headers.get("x-frame-options"), "DENY");

  // Nothing but known file types under web/, no way out of it.
  for (
    const path of [
      "/static/../deno.json",
      "/static/%2e%2e/deno.json",
      "/static/..%2fdeno.json",
      "/static/.hidden.js",
      "/static/console",
      "/static/missing.js",
      "/static/index.html.bak",
      "/static/chat_client.ts",
    ]
  ) {
    const res = await get(path);
    await res.body?.cancel();
    assert.equal(res.status, 404, path);
  }
});
