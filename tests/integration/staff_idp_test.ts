/**
 * Staff from an identity provider, end to end: a local JWKS server (Deno.serve on 127.0.0.1,
 * port 0) publishes jose-made RS256 and ES256 keys; the chat server runs with JWT_JWKS_URL,
 * JWT_ISSUER, JWT_AUDIENCE, JWT_ROLE_CLAIM (a Keycloak-style `realm_access.roles`) and
 * JWT_ROLE_MAP. Token times follow the server's ManualClock.
 *
 * Guards against: staff tokens of another audience or issuer getting in; HS256 staff tokens
 * under the server's own secret still being accepted once an IdP is configured (anyone holding
 * JWT_SECRET could mint an admin); client tokens breaking when staff move to the IdP; and a key
 * rotation at the IdP needing a restart.
 */
import assert from "node:assert/strict";
import { base64url, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { ManualClock } from "../../src/runtime/clock.ts";
import { startTestServer, type TestServer } from "./_harness.ts";
import { assertAck, isFrame, openStaff } from "./_routing_util.ts";
import { Sockets } from "./_util.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const ISS = "https://idp.test/realms/support";
const AUD = "support-chat";
const ROLE_MAP = "support-agent:operator,support-lead:admin,legal-counsel:lawyer";

/** jose's key type (the global CryptoKey and @types/node's differ when checked together). */
type JoseKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

interface Key {
  alg: "RS256" | "ES256";
  kid: string;
  privateKey: JoseKey;
  jwk: JWK;
}

async function makeKey(alg: "RS256" | "ES256", kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { alg, kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

const RSA = await makeKey("RS256", "rsa-1");
const EC = await makeKey("ES256", "ec-1");
const RSA_NEXT = await makeKey("RS256", "rsa-2");
const ROGUE = await makeKey("RS256", "rogue");

/** A JWKS server whose key set a test may change (rotation); counts the fetches. */
function jwksServer(keys: JWK[]) {
  const state = { keys, requests: 0 };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    state.requests++;
    return Response.json({ keys: state.keys });
  });
  return {
    state,
    url: `http://127.0.0.1:${server.addr.port}/realms/support/protocol/openid-connect/certs`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** An IdP token at the server's time; claims set to `undefined` are left out. */
function idpToken(
  clock: ManualClock,
  key: Key,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const now = Math.floor(clock.now() / 1000);
  const payload = Object.fromEntries(
    Object.entries({
      iss: ISS,
      aud: AUD,
      sub: "kc-op-1",
      name: "Olga",
      realm_access: { roles: ["offline_access", "support-agent"] },
      iat: now,
      exp: now + 300,
      ...claims,
    }).filter(([, v]) => v !== undefined),
  );
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .sign(key.privateKey);
}

const roles = (...r: string[]) => ({ realm_access: { roles: r } });
const b64 = (json: unknown) => base64url.encode(JSON.stringify(json));

async function startWithIdp(
  jwksUrl: string,
  extra: Record<string, string> = {},
): Promise<{ server: TestServer; clock: ManualClock }> {
  const clock = new ManualClock();
  const server = await startTestServer({
    JWT_JWKS_URL: jwksUrl,
    JWT_ISSUER: ISS,
    JWT_AUDIENCE: AUD,
    JWT_ROLE_CLAIM: "realm_access.roles",
    JWT_ROLE_MAP: ROLE_MAP,
    ...extra,
  }, { clock });
  return { server, clock };
}

async function rest(server: TestServer, path: string, token: string) {
  const res = await fetch(new URL(`/api/v1/chat/${path}`, server.url), {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: await res.json() as Json };
}

/** `p`, or a failure after `ms`: a guard, so a connection the server keeps fails the test. */
function within<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out waiting for ${what}`)), ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

/** A socket the server refuses: one `error` frame with `code`, then close 1008. */
async function assertRefused(sockets: Sockets, url: string, code: string, what: string) {
  const ws = await sockets.open(url);
  const closed = await within(ws.closed(), `the refusal of ${what}`);
  assert.equal(closed.code, 1008, what);
  assert.equal(closed.reason, code, what);
  assert.deepEqual(ws.frames.map((f) => [f.type, f.payload.code]), [["error", code]], what);
}

Deno.test("staff idp: RS256 and ES256 tokens connect as staff over WebSocket and REST, roles mapped", async () => {
  await using jwks = jwksServer([RSA.jwk, EC.jwk]);
  const { server, clock } = await startWithIdp(jwks.url);
  await using _server = server;
  await using sockets = new Sockets();

  // An operator (RS256) takes a chat and writes in it.
  const chat = await server.createChat("alice");
  const client = await sockets.connect(chat.ws_url);
  const op = await openStaff(sockets, server.wsUrl(await idpToken(clock, RSA)));
  assert.equal(op.frames[0].payload.user_id, "kc-op-1");
  assert.equal(op.frames[0].payload.role, "operator");
  await op.next(isFrame("queue_snapshot"));
  assertAck(await op.request("accept_chat", { chat_id: chat.chat_id }));
  const assigned = await client.next(isFrame("chat_assigned", chat.chat_id));
  assert.equal(assigned.payload.operator_id, "kc-op-1");
  const sent = assertAck(await op.request("message", { chat_id: chat.chat_id, text: "hi" }));
  await client.next((f) => f.type === "message" && f.payload.seq === sent.payload.seq);

  // An admin (ES256; also in the agents' group: the most privileged role wins) on admin REST.
  const adminToken = await idpToken(clock, EC, {
    sub: "kc-lead",
    ...roles("support-agent", "support-lead"),
  });
  const operators = await rest(server, "admin/operators", adminToken);
  assert.equal(operators.status, 200, JSON.stringify(operators.body));
  const row = (operators.body as Json[]).find((o) => o.operator_id === "kc-op-1");
  assert.equal(row.connections, 1);
  assert.equal(row.open_chats, 1);
  assert.equal((await rest(server, "admin/queue", adminToken)).status, 200);
  const admin = await openStaff(sockets, server.wsUrl(adminToken));
  assert.equal(admin.frames[0].payload.role, "admin");

  // The operator is not an admin; a lawyer gets no queue.
  const opOnAdmin = await rest(server, "admin/operators", await idpToken(clock, EC));
  assert.equal(opOnAdmin.status, 403);
  assert.equal(opOnAdmin.body.error.code, "forbidden");
  const lawyer = await openStaff(
    sockets,
    server.wsUrl(await idpToken(clock, RSA, { sub: "kc-law", ...roles("legal-counsel") })),
  );
  assert.equal(lawyer.frames[0].payload.role, "lawyer");
  assert.equal(lawyer.ofType("queue_snapshot").length, 0);
  // One key set fetch served them all.
  assert.equal(jwks.state.requests, 1);
});

Deno.test("staff idp: wrong audience, issuer, key, role or lifetime: WebSocket unauthorized + 1008, REST 401", async () => {
  await using jwks = jwksServer([RSA.jwk, EC.jwk]);
  const { server, clock } = await startWithIdp(jwks.url);
  await using _server = server;
  await using sockets = new Sockets();
  const now = Math.floor(clock.now() / 1000);
  const bad: Array<[string, Promise<string>]> = [
    ["another audience", idpToken(clock, RSA, { aud: "another-app" })],
    ["another issuer", idpToken(clock, EC, { iss: "https://evil.test/realms/support" })],
    ["expired", idpToken(clock, RSA, { iat: now - 600, exp: now - 60 })],
    ["no staff role", idpToken(clock, RSA, roles("offline_access", "uma_authorization"))],
    ["a role claim elsewhere", idpToken(clock, RSA, { realm_access: undefined, role: "admin" })],
    ["a lifetime over 24 h", idpToken(clock, RSA, { exp: now + 2 * 86_400 })],
    ["an unknown key", idpToken(clock, ROGUE)],
    ["a known kid, signed by another key", idpToken(clock, ROGUE, {}, { kid: RSA.kid })],
    [
      "alg none",
      Promise.resolve(
        `${b64({ alg: "none", typ: "JWT" })}.${
          b64({
            iss: ISS,
            aud: AUD,
            sub: "x",
            role: "admin",
            ...roles("support-lead"),
            exp: now + 60,
          })
        }.`,
      ),
    ],
  ];
  for (const [what, pending] of bad) {
    const token = await pending;
    await assertRefused(sockets, server.wsUrl(token), "unauthorized", what);
    const r = await rest(server, "chats/operators", token);
    assert.equal(r.status, 401, `${what}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, "unauthorized", what);
    const admin = await rest(server, "admin/operators", token);
    assert.equal(admin.status, 401, what);
  }
  // The good one still works (so the refusals above are about the tokens).
  assert.equal((await rest(server, "chats/operators", await idpToken(clock, RSA))).status, 200);
});

Deno.test("staff idp: HS256 staff tokens are refused beside an IdP (STAFF_HS256 auto); client tokens keep working", async () => {
  await using jwks = jwksServer([RSA.jwk, EC.jwk]);
  const { server, clock } = await startWithIdp(jwks.url);
  await using _server = server;
  await using sockets = new Sockets();
  // Anyone holding JWT_SECRET could mint these; with an IdP they are not staff proof.
  for (const role of ["operator", "admin"] as const) {
    const hs256 = await server.staffToken("op-1", role);
    await assertRefused(sockets, server.wsUrl(hs256), "unauthorized", `HS256 ${role}`);
    assert.equal((await rest(server, "chats/operators", hs256)).status, 401);
    assert.equal((await rest(server, "admin/operators", hs256)).status, 401);
  }

  // The server's own client tokens (chat and visitor) are unaffected.
  const chat = await server.createChat();
  const client = await sockets.connect(chat.ws_url);
  assertAck(await client.request("message", { text: "hello?" }));
  const mine = await rest(server, "me/chats", chat.visitor_token);
  assert.equal(mine.status, 200);
  assert.deepEqual(mine.body.map((c: Json) => c.chat_id), [chat.chat_id]);
  const op = await openStaff(sockets, server.wsUrl(await idpToken(clock, RSA)));
  assertAck(await op.request("accept_chat", { chat_id: chat.chat_id }));
  const reply = assertAck(await op.request("message", { chat_id: chat.chat_id, text: "yes?" }));
  await client.next((f) => f.type === "message" && f.payload.seq === reply.payload.seq);
});

Deno.test("staff idp: STAFF_HS256=on accepts HS256 staff tokens beside the IdP's", async () => {
  await using jwks = jwksServer([RSA.jwk, EC.jwk]);
  const { server, clock } = await startWithIdp(jwks.url, { STAFF_HS256: "on" });
  await using _server = server;
  await using sockets = new Sockets();
  const hs256 = await openStaff(sockets, server.wsUrl(await server.staffToken("op-1")));
  assert.equal(hs256.frames[0].payload.role, "operator");
  const idp = await openStaff(sockets, server.wsUrl(await idpToken(clock, EC)));
  assert.equal(idp.frames[0].payload.user_id, "kc-op-1");
  const admin = await rest(server, "admin/operators", await server.staffToken("adm", "admin"));
  assert.equal(admin.status, 200);
  assert.deepEqual(
    (admin.body as Json[]).map((o) => o.operator_id).sort(),
    ["kc-op-1", "op-1"],
  );
  // Still only under the server's secret.
  const forged = await rest(
    server,
    "admin/operators",
    (await server.staffToken("adm", "admin")).slice(0, -2) + "AA",
  );
  assert.equal(forged.status, 401);
});

Deno.test("staff idp: a key rotation at the IdP (new kid) is picked up without a restart", async () => {
  // jose refetches the key set on an unknown kid at most once per cooldown (30 s by default, on
  // the real clock, not the server's): a token with a brand-new kid inside the cooldown is
  // refused, and accepted once it is over. The cooldown is passed by moving the clock jose reads
  // (Date.now) forward instead of sleeping; the server itself runs on a ManualClock.
  await using jwks = jwksServer([RSA.jwk]);
  const { server, clock } = await startWithIdp(jwks.url);
  await using _server = server;
  await using sockets = new Sockets();
  const before = await openStaff(sockets, server.wsUrl(await idpToken(clock, RSA)));
  assert.equal(before.frames[0].payload.role, "operator");
  assert.equal(jwks.state.requests, 1);

  // The IdP rotates: rsa-2 signs from now on, rsa-1 is retired.
  jwks.state.keys = [RSA_NEXT.jwk];
  const next = await idpToken(clock, RSA_NEXT, { sub: "kc-op-2" });
  // Within the cooldown: the new kid is not known yet (refused as a token problem, 401).
  const early = await rest(server, "chats/operators", next);
  assert.equal(early.status, 401);
  assert.match(early.body.error.message, /key is not known/);
  assert.equal(jwks.state.requests, 1);

  const realNow = Date.now;
  Date.now = () => realNow() + 31_000;
  try {
    await clock.advance(1_000);
    const after = await openStaff(sockets, server.wsUrl(next));
    assert.equal(after.frames[0].payload.user_id, "kc-op-2");
    assert.equal(jwks.state.requests, 2, "the key set was fetched again");
    assert.equal((await rest(server, "chats/operators", next)).status, 200);
    // A new token under the retired key is refused now.
    const retired = await idpToken(clock, RSA, { sub: "kc-op-3" });
    await assertRefused(sockets, server.wsUrl(retired), "unauthorized", "retired key");
    // The operator connected before the rotation is still there (its token was verified).
    assert.equal((await before.request("ping")).type, "pong");
  } finally {
    Date.now = realNow;
  }
});
