import assert from "node:assert/strict";
import { AppError } from "../../src/errors.ts";
import { base64urlEncode, signJwt } from "../../src/auth/jwt.ts";
import {
  DEFAULT_CLIENT_TOKEN_TTL_MS,
  issueClientToken,
  verifyClientToken,
} from "../../src/auth/client_token.ts";

const SECRET = "test-secret-0123456789-abcdefghijklmnop";
const NOW = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const enc = new TextEncoder();

function issue(chatId = "chat-A", clientId = "client-1", nowMs = NOW, ttlMs?: number) {
  return issueClientToken({ chatId, clientId, secret: SECRET, nowMs, ttlMs });
}

async function rejects(token: string, reason: RegExp, nowMs = NOW, ttlMs?: number) {
  await assert.rejects(verifyClientToken(token, SECRET, nowMs, ttlMs), (err: unknown) => {
    assert.ok(err instanceof AppError);
    assert.equal(err.code, "unauthorized");
    assert.match(err.message, reason);
    return true;
  });
}

Deno.test("verifyClientToken() returns the chat and client of an issued token", async () => {
  const { token, expiresAt } = await issue("chat-Ä/1", "client.1");
  assert.ok(token.startsWith("c1."));
  assert.equal(expiresAt, NOW + DEFAULT_CLIENT_TOKEN_TTL_MS);
  assert.deepEqual(await verifyClientToken(token, SECRET, NOW + 1000), {
    chatId: "chat-Ä/1",
    clientId: "client.1",
    issuedAt: NOW,
    expiresAt,
  });
});

Deno.test("verifyClientToken() rejects a token once its default 24 h TTL has passed", async () => {
  const { token } = await issue();
  await verifyClientToken(token, SECRET, NOW + DEFAULT_CLIENT_TOKEN_TTL_MS - 1);
  await rejects(token, /expired/, NOW + DEFAULT_CLIENT_TOKEN_TTL_MS);
});

Deno.test("verifyClientToken() applies the TTL given by the caller", async () => {
  const { token, expiresAt } = await issue("chat-A", "client-1", NOW, HOUR);
  assert.equal(expiresAt, NOW + HOUR);
  await verifyClientToken(token, SECRET, NOW + HOUR - 1, HOUR);
  await rejects(token, /expired/, NOW + HOUR, HOUR);
});

Deno.test("verifyClientToken() allows 60 s of clock skew but rejects tokens issued later", async () => {
  const { token: skewed } = await issue("chat-A", "client-1", NOW + 60_000);
  await verifyClientToken(skewed, SECRET, NOW);
  const { token: future } = await issue("chat-A", "client-1", NOW + 61_000);
  await rejects(future, /future/);
});

Deno.test("verifyClientToken() rejects a token signed with another secret", async () => {
  const other = await issueClientToken({
    chatId: "chat-A",
    clientId: "client-1",
    secret: "another-secret-0123456789-abcdefgh",
    nowMs: NOW,
  });
  await rejects(other.token, /signature/);
});

Deno.test("a client token for chat A cannot be turned into one for chat B", async () => {
  const { token } = await issue("chat-A");
  assert.equal((await verifyClientToken(token, SECRET, NOW)).chatId, "chat-A");
  const parts = token.split(".");
  parts[1] = base64urlEncode(enc.encode("chat-B"));
  await rejects(parts.join("."), /signature/);
  const [, chatB, clientB, issuedB] = (await issue("chat-B")).token.split(".");
  await rejects(`c1.${chatB}.${clientB}.${issuedB}.${token.split(".")[4]}`, /signature/);
});

Deno.test("verifyClientToken() rejects a token whose issue time was moved", async () => {
  const parts = (await issue()).token.split(".");
  parts[3] = String(Number(parts[3]) + DEFAULT_CLIENT_TOKEN_TTL_MS / 1000);
  await rejects(parts.join("."), /signature/);
});

Deno.test("verifyClientToken() rejects malformed tokens", async () => {
  const { token } = await issue();
  await rejects("", /well-formed/);
  await rejects("c1.a.b.c", /well-formed/);
  await rejects(`${token}.x`, /well-formed/);
  await rejects(token.replace(/^c1\./, "c2."), /well-formed/);
  await rejects(token.slice(0, token.lastIndexOf(".") + 1) + "!!", /signature/);
});

Deno.test("a staff JWT signature cannot be passed off as a client token", async () => {
  const jwt = await signJwt({ sub: "op-1", role: "admin", exp: NOW / 1000 + 60 }, SECRET);
  const [, , sig] = jwt.split(".");
  const chat = base64urlEncode(enc.encode("chat-A"));
  await rejects(`c1.${chat}.${chat}.${NOW / 1000}.${sig}`, /signature/);
});

Deno.test("issueClientToken() refuses an empty chat id or a non-positive TTL", async () => {
  await assert.rejects(issue(""), Error);
  await assert.rejects(issue("chat-A", "client-1", NOW, 0), RangeError);
});
