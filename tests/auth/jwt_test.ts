import assert from "node:assert/strict";
import { AppError } from "../../src/errors.ts";
import { base64urlEncode, type JwtClaims, signJwt, verifyJwt } from "../../src/auth/jwt.ts";

const SECRET = "test-secret-0123456789-abcdefghijklmnop";
const NOW = Date.UTC(2026, 0, 1);
const NOW_S = NOW / 1000;
const enc = new TextEncoder();

function claims(extra: Partial<JwtClaims> = {}): JwtClaims {
  return { sub: "op-1", role: "operator", iat: NOW_S, exp: NOW_S + 3600, ...extra };
}

function part(value: unknown): string {
  return base64urlEncode(enc.encode(JSON.stringify(value)));
}

async function rejects(token: string, reason: RegExp, nowMs = NOW, secret = SECRET) {
  await assert.rejects(verifyJwt(token, secret, nowMs), (err: unknown) => {
    assert.ok(err instanceof AppError);
    assert.equal(err.code, "unauthorized");
    assert.match(err.message, reason);
    return true;
  });
}

Deno.test("verifyJwt() returns the claims of a token signed by signJwt()", async () => {
  const token = await signJwt(claims({ name: "Olga" }), SECRET);
  assert.deepEqual(await verifyJwt(token, SECRET, NOW), claims({ name: "Olga" }));
});

Deno.test("verifyJwt() rejects an expired token and accepts it one ms before expiry", async () => {
  const token = await signJwt(claims(), SECRET);
  await verifyJwt(token, SECRET, (NOW_S + 3600) * 1000 - 1);
  await rejects(token, /expired/, (NOW_S + 3600) * 1000);
});

Deno.test("verifyJwt() rejects a token without exp", async () => {
  const { exp: _exp, ...rest } = claims();
  await rejects(await signJwt(rest as JwtClaims, SECRET), /expiry/);
});

Deno.test("verifyJwt() rejects a token before its nbf time", async () => {
  const token = await signJwt(claims({ nbf: NOW_S + 10 }), SECRET);
  await rejects(token, /not valid yet/);
  await verifyJwt(token, SECRET, NOW + 10_000);
});

Deno.test("verifyJwt() rejects a token signed with another secret", async () => {
  await rejects(await signJwt(claims(), "another-secret-0123456789-abcdefgh"), /signature/);
});

Deno.test("verifyJwt() rejects a token whose payload was tampered with", async () => {
  const [header, , sig] = (await signJwt(claims(), SECRET)).split(".");
  await rejects(`${header}.${part(claims({ role: "admin" }))}.${sig}`, /signature/);
});

Deno.test("verifyJwt() rejects a token whose signature was altered", async () => {
  const token = await signJwt(claims(), SECRET);
  const last = token.at(-1) === "A" ? "B" : "A";
  await rejects(token.slice(0, -1) + last, /signature/);
});

Deno.test("verifyJwt() rejects a token whose alg is none", async () => {
  const payload = part(claims());
  await rejects(`${part({ alg: "none", typ: "JWT" })}.${payload}.`, /HS256/);
  await rejects(`${part({ alg: "none" })}.${payload}.c2ln`, /HS256/);
});

Deno.test("verifyJwt() rejects a token whose alg is not exactly HS256", async () => {
  const [, payload, sig] = (await signJwt(claims(), SECRET)).split(".");
  for (const alg of ["HS512", "hs256", "RS256", undefined]) {
    await rejects(`${part({ alg, typ: "JWT" })}.${payload}.${sig}`, /HS256/);
  }
});

Deno.test("verifyJwt() rejects a token whose role is not a staff role", async () => {
  for (const role of ["client", "root", "", 1]) {
    const token = await signJwt({ ...claims(), role } as unknown as JwtClaims, SECRET);
    await rejects(token, /role/);
  }
});

Deno.test("verifyJwt() rejects a token without a non-empty string sub", async () => {
  await rejects(await signJwt(claims({ sub: "" }), SECRET), /subject/);
  const numeric = { ...claims(), sub: 42 } as unknown as JwtClaims;
  await rejects(await signJwt(numeric, SECRET), /subject/);
});

Deno.test("verifyJwt() rejects malformed tokens", async () => {
  const token = await signJwt(claims(), SECRET);
  await rejects("", /well-formed/);
  await rejects("a.b", /well-formed/);
  await rejects(`${token}.extra`, /well-formed/);
  await rejects(`!!.${token.split(".")[1]}.x`, /header/);
  await rejects(`${part([1])}.${token.split(".")[1]}.x`, /header/);
});
