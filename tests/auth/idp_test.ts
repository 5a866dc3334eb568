/**
 * Tests of the IdP verifier against a local JWKS server (Deno.serve on 127.0.0.1, port 0) that
 * serves RS256 and ES256 keys made with jose, which also signs the tokens. Times are fixed.
 */
import assert from "node:assert/strict";
import {
  base64url,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
} from "jose";
import { AppError, type ErrorCode } from "../../src/errors.ts";
import { createIdpVerifier, type IdpOptions, isIdpToken } from "../../src/auth/idp.ts";

const NOW_S = Date.UTC(2026, 0, 1) / 1000;
const NOW = NOW_S * 1000;
const ISS = "https://idp.test/realms/support";
const AUD = "support-chat";

/** jose's key type (the global CryptoKey and @types/node's differ when checked together). */
type JoseKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

interface Key {
  alg: string;
  kid: string;
  privateKey: JoseKey;
  publicKey: JoseKey;
  jwk: JWK;
}

async function makeKey(alg: "RS256" | "ES256", kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { alg, kid, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg } };
}

const RSA = await makeKey("RS256", "rsa-1");
const EC = await makeKey("ES256", "ec-1");

type Mode = "ok" | "garbage" | "not-a-jwks" | "error" | "hang";

/** A JWKS server; `using` it closes it (and releases a hanging request) at the end of the test. */
function jwksServer(keys: JWK[] = [RSA.jwk, EC.jwk]) {
  let release!: () => void;
  const hung = new Promise<void>((resolve) => release = resolve);
  const state = { keys, mode: "ok" as Mode, requests: 0 };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
    state.requests++;
    if (state.mode === "hang") await hung;
    if (state.mode === "garbage") return new Response("<html>Bad gateway</html>");
    if (state.mode === "not-a-jwks") return Response.json({ keys: "none" });
    if (state.mode === "error") return new Response("down", { status: 503 });
    return Response.json({ keys: state.keys });
  });
  return {
    state,
    url: `http://127.0.0.1:${server.addr.port}/.well-known/jwks.json`,
    async [Symbol.asyncDispose]() {
      release();
      await server.shutdown();
    },
  };
}

function verifier(url: string, extra: Partial<IdpOptions> = {}) {
  return createIdpVerifier({ jwksUrl: url, issuer: ISS, audience: AUD, cooldownMs: 0, ...extra });
}

/** A token signed with `key`; claims set to `undefined` are left out. */
function sign(
  key: Key,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
) {
  const payload: JWTPayload = {
    iss: ISS,
    aud: AUD,
    sub: "op-1",
    role: "operator",
    name: "Olga",
    iat: NOW_S,
    exp: NOW_S + 3600,
    ...claims,
  };
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .sign(key.privateKey);
}

async function rejects(p: Promise<unknown>, code: ErrorCode, reason: RegExp) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof AppError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, reason);
    return true;
  });
}

Deno.test("idp: valid RS256 and ES256 tokens verify and the key set is fetched once", async () => {
  await using jwks = jwksServer();
  const verify = verifier(jwks.url);
  assert.deepEqual(await verify(await sign(RSA), NOW), {
    sub: "op-1",
    role: "operator",
    exp: NOW_S + 3600,
    iat: NOW_S,
    iss: ISS,
    name: "Olga",
  });
  assert.equal((await verify(await sign(EC, { sub: "op-2" }), NOW)).sub, "op-2");
  await verify(await sign(RSA), NOW + 1000);
  assert.equal(jwks.state.requests, 1);
});

Deno.test("idp: issuer and audience are checked; aud may be an array on either side", async () => {
  await using jwks = jwksServer();
  const verify = verifier(jwks.url);
  await rejects(
    verify(await sign(RSA, { iss: "https://evil.test" }), NOW),
    "unauthorized",
    /issuer/,
  );
  await rejects(verify(await sign(RSA, { iss: undefined }), NOW), "unauthorized", /issuer/);
  await rejects(verify(await sign(RSA, { aud: "other" }), NOW), "unauthorized", /audience/);
  await rejects(verify(await sign(RSA, { aud: undefined }), NOW), "unauthorized", /audience/);
  await verify(await sign(RSA, { aud: ["account", AUD] }), NOW);
  const either = verifier(jwks.url, { audience: ["api://chat", AUD] });
  await either(await sign(RSA, { aud: "api://chat" }), NOW);
  await rejects(either(await sign(RSA, { aud: ["account"] }), NOW), "unauthorized", /audience/);
});

Deno.test("idp: expiry, not-before and clock tolerance follow the nowMs passed in", async () => {
  await using jwks = jwksServer();
  const strict = verifier(jwks.url, { clockToleranceS: 0 });
  const token = await sign(RSA);
  await strict(token, (NOW_S + 3600) * 1000 - 1);
  await rejects(strict(token, (NOW_S + 3600) * 1000), "unauthorized", /^Token has expired$/);
  const tolerant = verifier(jwks.url); // 30 s by default
  await tolerant(token, (NOW_S + 3629) * 1000);
  await rejects(tolerant(token, (NOW_S + 3630) * 1000), "unauthorized", /expired/);

  const later = await sign(RSA, { nbf: NOW_S + 60 });
  await rejects(strict(later, NOW), "unauthorized", /not valid yet/);
  await strict(later, (NOW_S + 60) * 1000);
  await rejects(tolerant(later, NOW), "unauthorized", /not valid yet/);
  await tolerant(later, (NOW_S + 30) * 1000);
  await rejects(strict(await sign(RSA, { exp: undefined }), NOW), "unauthorized", /expiry/);
  await rejects(strict(await sign(RSA, { exp: "soon" }), NOW), "unauthorized", /expiry/);
});

Deno.test("idp: tokens living longer than maxLifetimeS or issued in the future fail", async () => {
  await using jwks = jwksServer();
  const verify = verifier(jwks.url);
  await verify(await sign(RSA, { exp: NOW_S + 86_400 }), NOW);
  const long = await sign(RSA, { exp: NOW_S + 86_401 });
  await rejects(verify(long, NOW), "unauthorized", /lifetime/);
  const noIat = await sign(RSA, { iat: undefined, exp: NOW_S + 86_401 });
  await rejects(verify(noIat, NOW), "unauthorized", /lifetime/);
  await verify(noIat, NOW + 1000); // exp - now is 24 h now
  const short = verifier(jwks.url, { maxLifetimeS: 600 });
  await rejects(short(await sign(RSA), NOW), "unauthorized", /lifetime/);
  // A far-future iat must not stretch the lifetime cap.
  const future = await sign(RSA, { iat: NOW_S + 86_400 * 365, exp: NOW_S + 86_400 * 365 + 60 });
  await rejects(verify(future, NOW), "unauthorized", /issued in the future/);
});

Deno.test("idp: alg none and HS256 signed with the RSA public key are refused", async () => {
  await using jwks = jwksServer();
  const verify = verifier(jwks.url);
  const enc = (v: unknown) => base64url.encode(JSON.stringify(v));
  const body = enc({ iss: ISS, aud: AUD, sub: "op-1", role: "admin", iat: NOW_S, exp: NOW_S + 60 });
  const none = `${enc({ alg: "none", typ: "JWT" })}.${body}.`;
  await rejects(verify(none, NOW), "unauthorized", /algorithm is not allowed/);
  const secrets = [
    new TextEncoder().encode(await exportSPKI(RSA.publicKey)),
    new TextEncoder().encode(JSON.stringify(RSA.jwk)),
  ];
  for (const secret of secrets) {
    const forged = await new SignJWT({ iss: ISS, aud: AUD, sub: "op-1", role: "admin" })
      .setProtectedHeader({ alg: "HS256", kid: RSA.kid }).setIssuedAt(NOW_S)
      .setExpirationTime(NOW_S + 60).sign(secret);
    await rejects(verify(forged, NOW), "unauthorized", /algorithm is not allowed/);
    assert.equal(isIdpToken(forged), false);
  }
  const es = verifier(jwks.url, { algorithms: ["ES256"] });
  await rejects(es(await sign(RSA), NOW), "unauthorized", /algorithm is not allowed/);
  assert.equal(jwks.state.requests, 0, "the algorithm is refused before any key is fetched");
  for (const algorithms of [["HS256"], ["none"], ["RS256", "HS512"], []]) {
    assert.throws(() => verifier(jwks.url, { algorithms }));
  }
});

Deno.test("idp: bad signatures and malformed tokens are unauthorized", async () => {
  await using jwks = jwksServer();
  const verify = verifier(jwks.url);
  const [h, p] = (await sign(RSA)).split(".");
  const other = (await sign(RSA, { role: "admin" })).split(".")[2];
  await rejects(verify(`${h}.${p}.${other}`, NOW), "unauthorized", /signature/);
  const stolen = await sign({ ...RSA, privateKey: (await makeKey("RS256", "x")).privateKey });
  await rejects(verify(stolen, NOW), "unauthorized", /signature/);
  for (
    const bad of ["", "abc", "a.b", "a.b.c", `${h}.${p}`, `${h}.!!!.x`, `${h}.${p}.${other}.x`]
  ) {
    await rejects(verify(bad, NOW), "unauthorized", /well-formed|signature/);
  }
  assert.equal(jwks.state.requests, 1, "junk costs no JWKS request");
});

Deno.test("idp: an unknown kid is refetched once, then refused", async () => {
  await using jwks = jwksServer();
  const verify = verifier(jwks.url);
  await verify(await sign(RSA), NOW);
  const stranger = await makeKey("RS256", "unknown-kid");
  await rejects(verify(await sign(stranger), NOW), "unauthorized", /key is not known/);
  assert.equal(jwks.state.requests, 2, "the unknown kid made jose refetch");
  const cooling = verifier(jwks.url, { cooldownMs: 60_000 });
  await cooling(await sign(RSA), NOW);
  await rejects(cooling(await sign(stranger), NOW), "unauthorized", /key is not known/);
  assert.equal(jwks.state.requests, 3, "no refetch within the cooldown");
});

Deno.test("idp: key rotation: a new kid verifies, the removed key stops verifying", async () => {
  await using jwks = jwksServer([RSA.jwk]);
  const verify = verifier(jwks.url);
  const old = await sign(RSA);
  await verify(old, NOW);
  const next = await makeKey("RS256", "rsa-2");
  jwks.state.keys = [next.jwk];
  await verify(old, NOW); // the cached set still has the old key
  assert.equal(jwks.state.requests, 1);
  await verify(await sign(next), NOW);
  assert.equal(jwks.state.requests, 2);
  await rejects(verify(old, NOW), "unauthorized", /key is not known/);
  await verify(await sign(next), NOW);
  assert.equal(jwks.state.requests, 3, "only the unknown kid caused a refetch");
  // Once the cache is older than cacheMaxAgeMs, the set is refetched before any verification.
  const fresh = verifier(jwks.url, { cacheMaxAgeMs: 0 });
  jwks.state.keys = [RSA.jwk];
  await fresh(old, NOW);
  jwks.state.keys = [next.jwk];
  await rejects(fresh(old, NOW), "unauthorized", /key is not known/);
});

Deno.test("idp: roles map from a string, an array, nested paths and URL claim names", async () => {
  await using jwks = jwksServer();
  const verify = verifier(jwks.url);
  const role = async (v: ReturnType<typeof verifier>, claims: Record<string, unknown>) =>
    (await v(await sign(RSA, { role: undefined, ...claims }), NOW)).role;
  assert.equal(await role(verify, { role: "lawyer" }), "lawyer");
  assert.equal(
    await role(verify, { role: ["offline_access", "operator", "admin", "lawyer"] }),
    "admin",
  );
  assert.equal(await role(verify, { role: ["lawyer", 7, null, "operator"] }), "lawyer");
  const keycloak = verifier(jwks.url, { roleClaim: "realm_access.roles" });
  const realm = { realm_access: { roles: ["default-roles-support", "operator"] } };
  assert.equal(await role(keycloak, realm), "operator");
  const auth0 = verifier(jwks.url, { roleClaim: "https://chat.example.com/roles" });
  assert.equal(await role(auth0, { "https://chat.example.com/roles": ["admin"] }), "admin");
  const mapped = verifier(jwks.url, {
    roleClaim: "groups",
    roleMap: { "support-agents": "operator", "legal": "lawyer", "chat-admins": "admin" },
  });
  assert.equal(await role(mapped, { groups: ["everyone", "support-agents", "legal"] }), "lawyer");
  for (const claims of [{}, { role: "superuser" }, { role: [] }, { role: { admin: true } }]) {
    await rejects(
      verify(await sign(RSA, { role: undefined, ...claims }), NOW),
      "unauthorized",
      /no staff role/,
    );
  }
  // A given roleMap replaces the identity map; inherited names never match.
  await rejects(
    mapped(await sign(RSA, { groups: ["admin"] }), NOW),
    "unauthorized",
    /no staff role/,
  );
  await rejects(
    verify(await sign(RSA, { role: "constructor" }), NOW),
    "unauthorized",
    /no staff role/,
  );
  await rejects(
    keycloak(await sign(RSA, { realm_access: ["operator"] }), NOW),
    "unauthorized",
    /role/,
  );
  assert.throws(() => verifier(jwks.url, { roleMap: { boss: "root" as "admin" } }));
});

Deno.test("idp: name is taken when it is a string; nameClaim picks the claim", async () => {
  await using jwks = jwksServer();
  const verify = verifier(jwks.url);
  assert.equal((await verify(await sign(RSA, { name: 42 }), NOW)).name, undefined);
  const byLogin = verifier(jwks.url, { nameClaim: "preferred_username" });
  assert.equal((await byLogin(await sign(RSA, { preferred_username: "olga" }), NOW)).name, "olga");
});

Deno.test("idp: sub must be 1 to 128 printable ASCII characters without spaces", async () => {
  await using jwks = jwksServer();
  const verify = verifier(jwks.url);
  await verify(await sign(RSA, { sub: "auth0|5f7c8ec7c33c6c004bbafe82" }), NOW);
  await verify(await sign(RSA, { sub: "x".repeat(128) }), NOW);
  await rejects(verify(await sign(RSA, { sub: undefined }), NOW), "unauthorized", /no subject/);
  for (const sub of ["", "x".repeat(129), "op 1", "opé", "op\n1", "op\u00001", 42]) {
    await rejects(verify(await sign(RSA, { sub }), NOW), "unauthorized", /subject/);
  }
});

Deno.test("idp: a JWKS server that is down, answers garbage or an error is unavailable", async () => {
  await using jwks = jwksServer();
  const token = await sign(RSA);
  const cases: [Mode, RegExp][] = [
    ["garbage", /could not be read/],
    ["error", /could not be read/],
    [
      "not-a-jwks",
      /not valid/,
    ],
  ];
  for (const [mode, reason] of cases) {
    jwks.state.mode = mode;
    await rejects(verifier(jwks.url)(token, NOW), "unavailable", reason);
  }
  jwks.state.mode = "ok";
  jwks.state.keys = [{ kty: "RSA", kid: RSA.kid, n: "AQAB", e: "AQAB" }];
  await rejects(verifier(jwks.url)(token, NOW), "unavailable", /too weak/);
  jwks.state.keys = [{ kty: "RSA", kid: RSA.kid, n: "!!", e: "AQAB" }];
  await rejects(verifier(jwks.url)(token, NOW), "unavailable", /not valid/);
  jwks.state.keys = [RSA.jwk];
  const verify = verifier(jwks.url);
  await verify(token, NOW);
  jwks.state.mode = "garbage";
  await verify(token, NOW); // a usable key is cached: no request needed
  const down = jwksServer();
  const url = down.url;
  await down[Symbol.asyncDispose]();
  await rejects(verifier(url)(token, NOW), "unavailable", /could not be fetched/);
  const err = await verifier(url)(token, NOW).catch((e) => e);
  assert.equal(err.retryable, true);
});

Deno.test("idp: a JWKS server slower than fetchTimeoutMs is unavailable", async () => {
  await using jwks = jwksServer();
  jwks.state.mode = "hang";
  const verify = verifier(jwks.url, { fetchTimeoutMs: 100 });
  await rejects(verify(await sign(RSA), NOW), "unavailable", /timed out/);
  assert.equal(jwks.state.requests, 1);
});

Deno.test("isIdpToken() routes by the unverified header's alg", async () => {
  assert.equal(isIdpToken(await sign(RSA)), true);
  assert.equal(isIdpToken(await sign(EC)), true);
  assert.equal(isIdpToken(await sign(EC), ["RS256"]), false);
  assert.equal(isIdpToken(await sign(RSA), ["RS256", "HS256"]), true);
  const hs = await new SignJWT({ sub: "op-1" }).setProtectedHeader({ alg: "HS256" })
    .sign(new Uint8Array(32));
  assert.equal(isIdpToken(hs), false);
  assert.equal(isIdpToken(hs, ["HS256"]), false, "never a shared-secret algorithm");
  for (const bad of ["", "a.b.c", "not a token", `${base64url.encode('{"alg":"none"}')}.e30.`]) {
    assert.equal(isIdpToken(bad), false);
  }
});

Deno.test("createIdpVerifier() refuses unsafe or empty options", () => {
  const base = { jwksUrl: "https://idp.test/jwks", issuer: ISS, audience: AUD };
  createIdpVerifier(base);
  assert.throws(() => createIdpVerifier({ ...base, jwksUrl: "http://idp.test/jwks" }), /https/);
  assert.throws(() => createIdpVerifier({ ...base, jwksUrl: "not a url" }));
  assert.throws(() => createIdpVerifier({ ...base, issuer: "" }));
  assert.throws(() => createIdpVerifier({ ...base, audience: [] }));
  assert.throws(() => createIdpVerifier({ ...base, roleClaim: "" }));
  assert.throws(() => createIdpVerifier({ ...base, clockToleranceS: -1 }), RangeError);
  assert.throws(() => createIdpVerifier({ ...base, fetchTimeoutMs: 1.5 }), RangeError);
});
