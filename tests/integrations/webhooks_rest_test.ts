/** The webhook admin REST on a real server: who may use it, validation, what it shows. */
import assert from "node:assert/strict";
import { startTestServer } from "../integration/_harness.ts";
import { adminApi, call } from "./_webhooks_rest.ts";

const HOOK = "http://127.0.0.1:9/hook"; // never called: these tests send no chat events

Deno.test("only admins manage webhooks: 401 without a token, 403 for operators", async () => {
  await using server = await startTestServer();
  const op = await server.staffToken("op-1", "operator");
  const requests: Array<[string, string, unknown?]> = [
    ["GET", "admin/webhooks"],
    ["POST", "admin/webhooks", { url: HOOK, events: ["chat.created"] }],
    ["GET", "admin/webhooks/wh_x"],
    ["PATCH", "admin/webhooks/wh_x", { enabled: false }],
    ["DELETE", "admin/webhooks/wh_x"],
    ["GET", "admin/webhooks/dead-letters"],
    ["POST", "admin/webhooks/dead-letters/whd_x/replay"],
    ["DELETE", "admin/webhooks/dead-letters/whd_x"],
  ];
  for (const [method, path, body] of requests) {
    const none = await call(server, method, path, { body });
    assert.equal(none.status, 401, `${method} ${path}`);
    assert.equal(none.body.error.code, "unauthorized");
    const denied = await call(server, method, path, { token: op, body });
    assert.equal(denied.status, 403, `${method} ${path}`);
    assert.equal(denied.body.error.code, "forbidden");
  }
  const admin = adminApi(server, await server.staffToken("admin-1", "admin"));
  assert.deepEqual(await admin.list(), [], "nothing was created");
});

Deno.test("create shows the secret once; list, get and update manage the subscription", async () => {
  await using server = await startTestServer();
  const admin = adminApi(server, await server.staffToken("admin-1", "admin"));

  const made = await admin.create({ url: HOOK, events: ["chat.message", "chat.closed"] });
  assert.match(made.id, /^wh_/);
  assert.match(made.secret, /^whsec_[0-9a-f]{64}$/, "generated when not given");
  assert.deepEqual(made.events, ["chat.message", "chat.closed"]);
  assert.equal(made.enabled, true);
  const own = await admin.create({
    url: "https://example.invalid/x",
    events: ["chat.rated", "chat.rated"],
    secret: "my-own-secret-0123456789",
    description: "CRM",
  });
  assert.equal(own.secret, "my-own-secret-0123456789");
  assert.deepEqual(own.events, ["chat.rated"], "duplicates collapse");

  const listed = await admin.list();
  assert.deepEqual(listed.map((s: { id: string }) => s.id), [made.id, own.id]);
  for (const s of listed) assert.equal("secret" in s, false, "the secret is shown only once");
  const one = await admin.get(made.id);
  assert.equal("secret" in one, false);
  assert.equal(one.url, HOOK);

  const off = await admin.update(made.id, { enabled: false });
  assert.equal(off.enabled, false);
  assert.equal(off.disabled_reason, "disabled by an admin");
  assert.equal("secret" in off, false);
  const on = await admin.update(made.id, { enabled: true, events: ["chat.created"] });
  assert.equal(on.enabled, true);
  assert.equal(on.disabled_reason, null);
  assert.deepEqual(on.events, ["chat.created"]);
  const rotated = await admin.update(made.id, { rotate_secret: true });
  assert.match(rotated.secret, /^whsec_/);
  assert.notEqual(rotated.secret, made.secret);

  await admin.remove(made.id);
  const token = await server.staffToken("admin-1", "admin");
  for (const [method, body] of [["GET"], ["DELETE"], ["PATCH", { enabled: true }]] as const) {
    const gone = await call(server, method, `admin/webhooks/${made.id}`, { token, body });
    assert.equal(gone.status, 404, method);
    assert.equal(gone.body.error.code, "not_found");
  }
  assert.deepEqual((await admin.list()).map((s: { id: string }) => s.id), [own.id]);
});

Deno.test("URLs other than http(s) and malformed bodies are refused with coded errors", async () => {
  await using server = await startTestServer();
  const token = await server.staffToken("admin-1", "admin");
  const bad: unknown[] = [
    { url: "ftp://files.example/hook", events: ["chat.created"] },
    { url: "javascript:alert(1)", events: ["chat.created"] },
    { url: "file:///etc/passwd", events: ["chat.created"] },
    { url: "not a url", events: ["chat.created"] },
    { url: "https://user:pw@example.com/hook", events: ["chat.created"] },
    { url: HOOK, events: [] },
    { url: HOOK, events: ["chat.deleted"] },
    { url: HOOK, events: ["chat.created"], secret: "short" },
    { events: ["chat.created"] },
  ];
  for (const body of bad) {
    const r = await call(server, "POST", "admin/webhooks", { token, body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.error.code, "invalid_payload", JSON.stringify(r.body));
  }
  const ftp = await call(server, "POST", "admin/webhooks", { token, body: bad[0] });
  assert.match(ftp.body.error.message, /url: must be an http or https URL, got ftp:/);
  const json = await call(server, "POST", "admin/webhooks", { token, body: "{nope" });
  assert.equal(json.body.error.code, "bad_json");

  const sub = await adminApi(server, token).create({ url: HOOK, events: ["chat.created"] });
  for (const body of [{}, { url: "gopher://x" }, { enabled: "yes" }]) {
    const r = await call(server, "PATCH", `admin/webhooks/${sub.id}`, { token, body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.error.code, "invalid_payload");
  }
  for (const query of ["limit=0", "limit=1001", "cursor=garbage!!"]) {
    const r = await call(server, "GET", `admin/webhooks/dead-letters?${query}`, { token });
    assert.equal(r.status, 400, query);
    assert.equal(r.body.error.code, "invalid_payload", query);
  }
  const missing = await call(server, "POST", "admin/webhooks/dead-letters/whd_nope/replay", {
    token,
  });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, "not_found");
});

Deno.test("the OpenAPI document describes the webhook endpoints", async () => {
  await using server = await startTestServer();
  const doc = await (await fetch(`${server.url}/api/v1/chat/openapi.json`)).json();
  const base = "/api/v1/chat/admin/webhooks";
  assert.deepEqual(Object.keys(doc.paths[base]).sort(), ["get", "post"]);
  assert.deepEqual(Object.keys(doc.paths[`${base}/{id}`]).sort(), ["delete", "get", "patch"]);
  assert.deepEqual(Object.keys(doc.paths[`${base}/dead-letters`]), ["get"]);
  assert.deepEqual(Object.keys(doc.paths[`${base}/dead-letters/{id}/replay`]), ["post"]);
  assert.deepEqual(Object.keys(doc.paths[`${base}/dead-letters/{id}`]), ["delete"]);
  assert.ok(doc.components.schemas.CreateWebhookBody);
  assert.ok(doc.components.schemas.WebhookDeadLetter);
});

Deno.test("WEBHOOKS=off: no webhook endpoints", async () => {
  await using server = await startTestServer({ WEBHOOKS: "off" });
  const token = await server.staffToken("admin-1", "admin");
  const r = await call(server, "GET", "admin/webhooks", { token });
  assert.equal(r.status, 404);
});
