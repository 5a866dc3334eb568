/**
 * Who a chat is for is proven, never claimed. Each test plays what an outside tester did against
 * the old code, where `POST /chats {"client_id":"alice"}` made a chat for alice and
 * `GET /me/chats` then handed out alice's chats, and where a visitor named like an operator
 * (`op-1`) received that operator's chats and kept the operator "present".
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { Authenticator } from "../../src/auth/mod.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { type Frame, startTestServer, type TestServer } from "./_harness.ts";
import { assertAck, assertError, isFrame, openStaff } from "./_routing_util.ts";
import { fetchHistory, nextCommit, Sockets } from "./_util.ts";
import { SseClient, sseUrl } from "./_sse_client.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const SITE_SECRET = "site-identity-secret-0123456789abcdef";
const OLD_SITE_SECRET = "old-site-identity-secret-0123456789ab";
const OTHER_SECRET = "not-the-site-secret-0123456789abcdefgh";
const ANON_ID = /^v-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const encoder = new TextEncoder();

/** `p`, or a failure after `ms`: a guard, so a connection the server keeps fails the test. */
function within<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out waiting for ${what}`)), ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

/** A REST call under `/api/v1/chat/`; the token goes in `Authorization: Bearer`. */
async function call(
  server: TestServer,
  method: "GET" | "POST" | "PATCH",
  path: string,
  opts: { token?: string; body?: unknown } = {},
): Promise<{ status: number; body: Json }> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(new URL(`/api/v1/chat/${path}`, server.url), {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, body: text === "" ? null : JSON.parse(text) };
}

/** Asserts a coded REST error. */
function assertRefused(r: { status: number; body: Json }, status: number, code: string): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body?.error?.code, code, JSON.stringify(r.body));
}

/** Asserts a 2xx and returns the body. */
function ok(r: { status: number; body: Json }, status = 200): Json {
  assert.equal(r.status, status, JSON.stringify(r.body));
  return r.body;
}

/** What a site's backend computes: hex HMAC SHA-256 of the user id under the site's secret. */
async function userHash(secret: string, userId: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(userId)));
  return Array.from(sig, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What a site's backend signs: a short HS256 JWT, `sub` the site's user id. */
function identityToken(
  secret: string,
  nowMs: number,
  claims: Record<string, unknown> & { sub: string },
  lifetimeS = 600,
  iatOffsetS = 0,
): Promise<string> {
  const { sub, ...rest } = claims;
  const iat = Math.floor(nowMs / 1000) + iatOffsetS;
  return new SignJWT(rest)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuedAt(iat)
    .setExpirationTime(iat + lifetimeS)
    .sign(encoder.encode(secret));
}

const chatIdsOf = (list: Json[]) => list.map((c) => c.chat_id).sort();

/** The chats waiting in the queue for client `clientId`. */
async function waitingFor(server: TestServer, clientId: string): Promise<string[]> {
  const snap = await server.svc.queueSnapshot();
  return snap.waiting.filter((w) => w.clientId === clientId).map((w) => w.chatId);
}

Deno.test("identity: a client_id without proof is 403 and makes no chat of that client", async () => {
  // Guards against: `POST /chats {"client_id":"alice"}` creating a chat for alice, after which
  // anyone holding alice's id (the attacker included) listed and opened her chats.
  await using server = await startTestServer();
  // Bob is a real visitor with a chat; the attacker names him and alice (who has none).
  const bob = await server.createChat("bob");
  // An anonymous visitor whose server-made id leaked (a transcript, a screenshot).
  const anon = ok(await call(server, "POST", "chats", { body: {} }), 201);
  const attacker = ok(await call(server, "POST", "chats", { body: {} }), 201);

  for (const victim of ["alice", "bob", "u:alice", anon.client_id]) {
    assertRefused(
      await call(server, "POST", "chats", { body: { client_id: victim } }),
      403,
      "forbidden",
    );
    // With the attacker's own (valid) visitor token beside the claim: still refused.
    assertRefused(
      await call(server, "POST", "chats", {
        token: attacker.visitor_token,
        body: { client_id: victim, name: "Eve" },
      }),
      403,
      "forbidden",
    );
    assertRefused(
      await call(server, "POST", "visitors", { body: { client_id: victim } }),
      403,
      "forbidden",
    );
  }

  // No chat of alice exists: her (server-minted) visitor token lists nothing, the queue has none.
  const alice = (await server.auth.issueVisitorToken("alice")).token;
  assert.deepEqual(ok(await call(server, "GET", "me/chats", { token: alice })), []);
  assert.deepEqual(await waitingFor(server, "alice"), []);
  // Bob still has exactly his own chat.
  const bobToken = (await server.auth.issueVisitorToken("bob")).token;
  assert.deepEqual(chatIdsOf(ok(await call(server, "GET", "me/chats", { token: bobToken }))), [
    bob.chat_id,
  ]);
  assert.deepEqual(await waitingFor(server, "bob"), [bob.chat_id]);
  assert.equal(ok(await call(server, "GET", "me", { token: bobToken })).name, null);
  assert.deepEqual(
    chatIdsOf(ok(await call(server, "GET", "me/chats", { token: anon.visitor_token }))),
    [anon.chat_id],
  );
  // The attacker's tokens list only the attacker's chat and open none of bob's.
  assert.deepEqual(
    chatIdsOf(ok(await call(server, "GET", "me/chats", { token: attacker.visitor_token }))),
    [attacker.chat_id],
  );
  for (const token of [attacker.visitor_token, attacker.client_token]) {
    const h = await fetchHistory(server, bob.chat_id, token);
    assert.equal(h.status, 403, JSON.stringify(h.body));
  }
});

Deno.test("identity: an anonymous visitor gets a server-made id; each token keeps to its scope", async () => {
  // Guards against: claimed ids (the old client_id), chat tokens or staff tokens standing in for
  // a visitor, and forged or expired visitor tokens quietly making a new anonymous visitor.
  const clock = new ManualClock();
  await using server = await startTestServer({ VISITOR_TOKEN_TTL_S: "60" }, { clock });
  await using sockets = new Sockets();
  const first = ok(await call(server, "POST", "chats", { body: {} }), 201);
  assert.match(first.client_id, ANON_ID);
  assert.match(first.client_token, /^c1\./);
  assert.match(first.visitor_token, /^v1\./);
  assert.equal(first.status, "queued");

  // Later, the visitor lists their chats: each with a fresh chat token that opens it.
  await clock.advance(5_000);
  const listed = ok(await call(server, "GET", "me/chats", { token: first.visitor_token }));
  assert.deepEqual(chatIdsOf(listed), [first.chat_id]);
  assert.equal(listed[0].status, "queued");
  assert.notEqual(listed[0].client_token, first.client_token, "a fresh chat token");
  assert.ok(Date.parse(listed[0].expires_at) > Date.parse(first.expires_at));
  const ws = await sockets.connect(server.wsUrl(listed[0].client_token));
  assert.equal(ws.frames[0].payload.chat_id, first.chat_id);
  assert.equal(ws.frames[0].payload.user_id, first.client_id);
  assertAck(await ws.request("message", { text: "hello from the listed token" }));

  // A chat token is not a visitor token: it lists nothing and starts nothing.
  assertRefused(
    await call(server, "GET", "me/chats", { token: first.client_token }),
    403,
    "forbidden",
  );
  assertRefused(
    await call(server, "POST", "chats", { token: first.client_token, body: {} }),
    403,
    "forbidden",
  );
  // Nor is a staff token (of any role).
  for (const role of ["operator", "admin"] as const) {
    const staff = await server.staffToken("op-1", role);
    assertRefused(
      await call(server, "POST", "chats", { token: staff, body: {} }),
      403,
      "forbidden",
    );
    assertRefused(await call(server, "GET", "me/chats", { token: staff }), 403, "forbidden");
  }
  // A visitor token opens no chat by itself.
  const refused = await sockets.open(server.wsUrl(first.visitor_token));
  const closed = await within(refused.closed(), "the refused socket to close");
  assert.equal(closed.code, 1008);
  assert.deepEqual(refused.frames.map((f) => [f.type, f.payload.code]), [["error", "forbidden"]]);

  // The visitor token starts a second chat for the same visitor.
  const second = ok(
    await call(server, "POST", "chats", { token: first.visitor_token, body: {} }),
    201,
  );
  assert.equal(second.client_id, first.client_id);
  assert.notEqual(second.chat_id, first.chat_id);
  assert.deepEqual(
    chatIdsOf(ok(await call(server, "GET", "me/chats", { token: second.visitor_token }))),
    [first.chat_id, second.chat_id].sort(),
  );

  // A forged visitor token: 401, not a new anonymous visitor.
  const sig = first.visitor_token.slice(-4);
  const forged = first.visitor_token.slice(0, -4) + (sig === "AAAA" ? "BBBB" : "AAAA");
  // The right shape for the same visitor, signed with a secret that is not the server's.
  const otherServer = new Authenticator({ secret: OTHER_SECRET, clock });
  const forgedId = (await otherServer.issueVisitorToken(first.client_id)).token;
  const before = (await server.svc.queueSnapshot()).waiting.length;
  for (const token of [forged, forgedId, "v1.garbage"]) {
    assertRefused(await call(server, "POST", "chats", { token, body: {} }), 401, "unauthorized");
    assertRefused(await call(server, "GET", "me/chats", { token }), 401, "unauthorized");
  }
  // Expired: the visitor token is refused once its lifetime is over.
  await clock.advance(55_000);
  const expired = await call(server, "POST", "chats", { token: first.visitor_token, body: {} });
  assertRefused(expired, 401, "unauthorized");
  assertRefused(
    await call(server, "GET", "me/chats", { token: first.visitor_token }),
    401,
    "unauthorized",
  );
  assert.equal((await server.svc.queueSnapshot()).waiting.length, before, "no chat was made");
});

Deno.test("identity: user_hash vouches for u:<id> on every device; a wrong hash is 401", async () => {
  // Guards against: a site user's chats reachable by anyone who knows the user id (old), and,
  // now, against a hash for one user opening another's chats.
  await using server = await startTestServer({ IDENTITY_SECRET: SITE_SECRET });
  const hash = await userHash(SITE_SECRET, "alice");
  // Device A and device B: separate requests, no shared token.
  const a = ok(
    await call(server, "POST", "chats", { body: { client_id: "alice", user_hash: hash } }),
    201,
  );
  const b = ok(
    await call(server, "POST", "chats", {
      body: { client_id: "alice", user_hash: hash.toUpperCase() },
    }),
    201,
  );
  assert.equal(a.client_id, "u:alice");
  assert.equal(b.client_id, "u:alice");
  assert.notEqual(a.chat_id, b.chat_id);
  for (const token of [a.visitor_token, b.visitor_token]) {
    assert.deepEqual(
      chatIdsOf(ok(await call(server, "GET", "me/chats", { token }))),
      [a.chat_id, b.chat_id].sort(),
    );
  }
  const me = ok(await call(server, "GET", "me", { token: b.visitor_token }));
  assert.equal(me.client_id, "u:alice");
  assert.equal(me.verified, true);

  // Wrong hashes: another user's, a flipped digit, another secret's, not hex, and a hash of
  // "alice" offered for the prefixed id.
  const flipped = (hash[0] === "0" ? "1" : "0") + hash.slice(1);
  const wrong: Array<[string, string]> = [
    ["alice", await userHash(SITE_SECRET, "mallory")],
    ["alice", flipped],
    ["alice", await userHash(OTHER_SECRET, "alice")],
    ["alice", "z".repeat(64)],
    ["alice", hash.slice(0, 63)],
    ["u:alice", hash],
  ];
  for (const [client_id, user_hash] of wrong) {
    const r = await call(server, "POST", "chats", { body: { client_id, user_hash } });
    assertRefused(r, 401, "unauthorized");
  }
  // A visitor token beside a wrong hash does not rescue it.
  assertRefused(
    await call(server, "POST", "chats", {
      token: a.visitor_token,
      body: { client_id: "alice", user_hash: flipped },
    }),
    401,
    "unauthorized",
  );
  assert.deepEqual((await waitingFor(server, "u:alice")).sort(), [a.chat_id, b.chat_id].sort());
  assert.deepEqual(await waitingFor(server, "alice"), []);
  // The hashed id alone, without a hash, is still only a claim.
  assertRefused(
    await call(server, "POST", "chats", { body: { client_id: "alice" } }),
    403,
    "forbidden",
  );
});

Deno.test("identity: an identity_token vouches for name and email; bad tokens are 401", async () => {
  // Guards against: trusting what a visitor types as if the site had said it, identity tokens
  // that live too long, and tokens of another secret.
  const clock = new ManualClock();
  await using server = await startTestServer({ IDENTITY_SECRET: SITE_SECRET }, { clock });
  const now = clock.now();
  const token = await identityToken(SITE_SECRET, now, {
    sub: "alice",
    name: "Alice Liddell",
    email: "alice@example.com",
    attributes: { plan: "gold", seats: 3 },
  });
  const chat = ok(
    await call(server, "POST", "chats", {
      body: { identity_token: token, name: "Typed Name", email: "typed@example.com" },
    }),
    201,
  );
  assert.equal(chat.client_id, "u:alice");
  const me = ok(await call(server, "GET", "me", { token: chat.visitor_token }));
  assert.equal(me.name, "Alice Liddell", "the site's name wins over what was typed");
  assert.equal(me.email, "alice@example.com");
  assert.equal(me.verified, true);
  assert.deepEqual(me.attributes, { plan: "gold", seats: "3" });
  assert.deepEqual(me.chats.map((c: Json) => c.chat_id), [chat.chat_id]);
  // Staff who may see the chat (it waits: any operator) see the vouched profile.
  const op = await server.staffToken("op-1");
  const seen = ok(await call(server, "GET", `chats/${chat.chat_id}/client`, { token: op }));
  assert.equal(seen.client_id, "u:alice");
  assert.equal(seen.name, "Alice Liddell");
  assert.equal(seen.email, "alice@example.com");
  assert.equal(seen.verified, true);

  const bad: Array<[string, Promise<string>]> = [
    ["exp - iat over 3600 s", identityToken(SITE_SECRET, now, { sub: "alice" }, 3601)],
    ["signed with another secret", identityToken(OTHER_SECRET, now, { sub: "alice" })],
    ["expired", identityToken(SITE_SECRET, now, { sub: "alice" }, 600, -1200)],
    [
      "HS512",
      new SignJWT({}).setProtectedHeader({ alg: "HS512" }).setSubject("alice")
        .setIssuedAt(Math.floor(now / 1000)).setExpirationTime(Math.floor(now / 1000) + 60)
        .sign(encoder.encode(SITE_SECRET)),
    ],
    [
      "no expiry",
      new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice")
        .setIssuedAt(Math.floor(now / 1000)).sign(encoder.encode(SITE_SECRET)),
    ],
    ["garbage", Promise.resolve("not.a.jwt")],
  ];
  for (const [what, t] of bad) {
    const r = await call(server, "POST", "chats", { body: { identity_token: await t } });
    assert.equal(r.status, 401, `${what}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, "unauthorized", what);
  }
  // Exactly 3600 s is allowed.
  const longest = await identityToken(SITE_SECRET, now, { sub: "alice" }, 3600);
  const again = ok(await call(server, "POST", "chats", { body: { identity_token: longest } }), 201);
  assert.equal(again.client_id, "u:alice");
  assert.deepEqual(
    (await waitingFor(server, "u:alice")).sort(),
    [chat.chat_id, again.chat_id].sort(),
  );
});

Deno.test("identity: IDENTITY_SECRET=old,new verifies under both; a third secret is 401", async () => {
  // Guards against: a secret rotation that locks out the users whose pages still carry hashes
  // or tokens of the old secret (or that lets any secret through).
  const clock = new ManualClock();
  await using server = await startTestServer(
    { IDENTITY_SECRET: `${OLD_SITE_SECRET}, ${SITE_SECRET}` },
    { clock },
  );
  const ids: string[] = [];
  for (const secret of [OLD_SITE_SECRET, SITE_SECRET]) {
    const byHash = ok(
      await call(server, "POST", "chats", {
        body: { client_id: "alice", user_hash: await userHash(secret, "alice") },
      }),
      201,
    );
    const byToken = ok(
      await call(server, "POST", "visitors", {
        body: { identity_token: await identityToken(secret, clock.now(), { sub: "alice" }) },
      }),
      201,
    );
    assert.equal(byHash.client_id, "u:alice");
    assert.equal(byToken.client_id, "u:alice");
    ids.push(byHash.chat_id);
  }
  const third = await call(server, "POST", "chats", {
    body: { client_id: "alice", user_hash: await userHash(OTHER_SECRET, "alice") },
  });
  assertRefused(third, 401, "unauthorized");
  const thirdToken = await call(server, "POST", "chats", {
    body: { identity_token: await identityToken(OTHER_SECRET, clock.now(), { sub: "alice" }) },
  });
  assertRefused(thirdToken, 401, "unauthorized");
  const anyToken = (await server.auth.issueVisitorToken("u:alice")).token;
  assert.deepEqual(
    chatIdsOf(ok(await call(server, "GET", "me/chats", { token: anyToken }))),
    ids.sort(),
  );
});

Deno.test("identity: without IDENTITY_SECRET identity verification is 501 not_supported", async () => {
  // Guards against: a server without the site's secret accepting hashes or tokens it cannot
  // check (and so vouching for anyone).
  const clock = new ManualClock();
  await using server = await startTestServer({}, { clock });
  const attempts = [
    { client_id: "alice", user_hash: await userHash(SITE_SECRET, "alice") },
    { identity_token: await identityToken(SITE_SECRET, clock.now(), { sub: "alice" }) },
  ];
  for (const body of attempts) {
    assertRefused(await call(server, "POST", "chats", { body }), 501, "not_supported");
    assertRefused(await call(server, "POST", "visitors", { body }), 501, "not_supported");
  }
  assert.equal((await server.svc.queueSnapshot()).waiting.length, 0);
  const alice = (await server.auth.issueVisitorToken("u:alice")).token;
  assert.deepEqual(ok(await call(server, "GET", "me/chats", { token: alice })), []);
});

Deno.test("identity: the profile is stored, shown to staff who may see the chat, and PATCH /me keeps verified fields", async () => {
  // Guards against: profiles shown to staff who may not see the chat, and a visitor overwriting
  // what the site vouched for.
  const clock = new ManualClock();
  await using server = await startTestServer({ IDENTITY_SECRET: SITE_SECRET }, { clock });
  await using sockets = new Sockets();
  const chat = ok(
    await call(server, "POST", "chats", {
      body: {
        name: "Bob",
        email: "bob@example.com",
        attributes: { page: "/pricing", plan: 3, beta: true },
      },
    }),
    201,
  );
  const me = ok(await call(server, "GET", "me", { token: chat.visitor_token }));
  assert.deepEqual(
    { name: me.name, email: me.email, verified: me.verified, attributes: me.attributes },
    {
      name: "Bob",
      email: "bob@example.com",
      verified: false,
      attributes: { page: "/pricing", plan: "3", beta: "true" },
    },
  );
  const profileFor = (token: string) =>
    call(server, "GET", `chats/${chat.chat_id}/client`, { token });
  const op1 = await server.staffToken("op-1");
  const op2 = await server.staffToken("op-2");
  const lawyer = await server.staffToken("law-1", "lawyer");
  const admin = await server.staffToken("adm", "admin");
  // Waiting: any operator may look; a lawyer may not; the client's own tokens are not staff.
  for (const token of [op1, op2, admin]) {
    const seen = ok(await profileFor(token));
    assert.equal(seen.client_id, chat.client_id);
    assert.equal(seen.name, "Bob");
    assert.equal(seen.email, "bob@example.com");
    assert.equal(seen.verified, false);
    assert.deepEqual(seen.attributes, { page: "/pricing", plan: "3", beta: "true" });
    assert.deepEqual(seen.chats.map((c: Json) => c.chat_id), [chat.chat_id]);
  }
  assertRefused(await profileFor(lawyer), 403, "forbidden");
  assertRefused(await profileFor(chat.client_token), 403, "forbidden");
  assertRefused(await profileFor(chat.visitor_token), 403, "forbidden");

  // The visitor changes what they gave; staff see it.
  const patched = ok(
    await call(server, "PATCH", "me", {
      token: chat.visitor_token,
      body: { name: "Robert", attributes: { plan: "pro" } },
    }),
  );
  assert.equal(patched.name, "Robert");
  assert.equal(patched.email, "bob@example.com");
  assert.deepEqual(patched.attributes, { page: "/pricing", plan: "pro", beta: "true" });
  assert.equal(ok(await profileFor(op2)).name, "Robert");
  // Only with the visitor token.
  assertRefused(
    await call(server, "PATCH", "me", { token: chat.client_token, body: { name: "X" } }),
    403,
    "forbidden",
  );
  assertRefused(
    await call(server, "PATCH", "me", { token: op1, body: { name: "X" } }),
    403,
    "forbidden",
  );

  // op-1 takes the chat: now op-2 (not the owner, not waiting) may not look; op-1 and admins may.
  const op = await openStaff(sockets, server.wsUrl(op1));
  assertAck(await op.request("accept_chat", { chat_id: chat.chat_id }));
  assertRefused(await profileFor(op2), 403, "forbidden");
  assertRefused(await profileFor(lawyer), 403, "forbidden");
  assert.equal(ok(await profileFor(op1)).name, "Robert");
  assert.equal(ok(await profileFor(admin)).name, "Robert");

  // A verified name is not overwritten by the visitor: neither by PATCH /me nor by typing it in.
  const vouched = ok(
    await call(server, "POST", "chats", {
      body: {
        identity_token: await identityToken(SITE_SECRET, clock.now(), {
          sub: "carol",
          name: "Carol Verified",
          email: "carol@example.com",
          attributes: { tier: "enterprise" },
        }),
      },
    }),
    201,
  );
  const kept = ok(
    await call(server, "PATCH", "me", {
      token: vouched.visitor_token,
      body: { name: "Mallory", email: "mallory@evil.test", attributes: { tier: "free", x: "1" } },
    }),
  );
  assert.equal(kept.name, "Carol Verified");
  assert.equal(kept.email, "carol@example.com");
  assert.equal(kept.verified, true);
  assert.equal(kept.attributes.tier, "enterprise");
  ok(
    await call(server, "POST", "chats", {
      token: vouched.visitor_token,
      body: { name: "Mallory", email: "mallory@evil.test" },
    }),
    201,
  );
  const staffView = ok(
    await call(server, "GET", `chats/${vouched.chat_id}/client`, { token: admin }),
  );
  assert.equal(staffView.name, "Carol Verified");
  assert.equal(staffView.email, "carol@example.com");
  assert.equal(staffView.verified, true);
  assert.equal(staffView.chats.length, 2);
});

Deno.test("identity: POST /me/token renews the visitor token; the old one still ends on time", async () => {
  // Guards against: a renewal that does not extend (the visitor loses their chats when the first
  // token ends) or that works with a chat or staff token.
  const clock = new ManualClock();
  await using server = await startTestServer({ VISITOR_TOKEN_TTL_S: "60" }, { clock });
  const chat = ok(await call(server, "POST", "chats", { body: {} }), 201);
  await clock.advance(40_000);
  const renewed = ok(await call(server, "POST", "me/token", { token: chat.visitor_token }));
  assert.match(renewed.visitor_token, /^v1\./);
  assert.notEqual(renewed.visitor_token, chat.visitor_token);
  assert.equal(Date.parse(renewed.expires_at), clock.now() + 60_000);
  assertRefused(
    await call(server, "POST", "me/token", { token: chat.client_token }),
    403,
    "forbidden",
  );
  assertRefused(
    await call(server, "POST", "me/token", { token: await server.staffToken("op-1") }),
    403,
    "forbidden",
  );
  // Past the first token's end: it is refused, the renewed one works.
  await clock.advance(25_000);
  assertRefused(
    await call(server, "GET", "me/chats", { token: chat.visitor_token }),
    401,
    "unauthorized",
  );
  const listed = ok(await call(server, "GET", "me/chats", { token: renewed.visitor_token }));
  assert.deepEqual(chatIdsOf(listed), [chat.chat_id]);
  const more = ok(
    await call(server, "POST", "chats", { token: renewed.visitor_token, body: {} }),
    201,
  );
  assert.equal(more.client_id, chat.client_id);
});

Deno.test("identity: POST /visitors makes a visitor without a chat", async () => {
  // Guards against: a visitor endpoint that makes chats (or takes claimed ids).
  await using server = await startTestServer({ IDENTITY_SECRET: SITE_SECRET });
  const v = ok(await call(server, "POST", "visitors", { body: { name: "Dana" } }), 201);
  assert.match(v.client_id, ANON_ID);
  assert.match(v.visitor_token, /^v1\./);
  assert.equal(v.chat_id, undefined);
  assert.deepEqual(ok(await call(server, "GET", "me/chats", { token: v.visitor_token })), []);
  const me = ok(await call(server, "GET", "me", { token: v.visitor_token }));
  assert.equal(me.name, "Dana");
  assert.deepEqual(me.chats, []);
  assert.equal((await server.svc.queueSnapshot()).waiting.length, 0);
  // The visitor token starts a chat for that visitor later.
  const chat = ok(await call(server, "POST", "chats", { token: v.visitor_token, body: {} }), 201);
  assert.equal(chat.client_id, v.client_id);
  assert.deepEqual(
    chatIdsOf(ok(await call(server, "GET", "me/chats", { token: v.visitor_token }))),
    [chat.chat_id],
  );
  // With identity verification it is the vouched visitor.
  const vouched = ok(
    await call(server, "POST", "visitors", {
      body: { client_id: "erin", user_hash: await userHash(SITE_SECRET, "erin") },
    }),
    201,
  );
  assert.equal(vouched.client_id, "u:erin");
});

Deno.test("identity: a visitor whose id equals a staff id gets none of that operator's chats and keeps no presence", async () => {
  // Guards against: the hub, presence and per-user indexes keyed by the bare id, so a visitor
  // `op-1` received operator op-1's chats and its socket kept op-1 "present" (no requeue).
  const clock = new ManualClock();
  await using server = await startTestServer({ PRESENCE_GRACE_S: "5" }, { clock });
  await using sockets = new Sockets();
  const admin = await server.staffToken("adm", "admin");
  const operators = async () => {
    const list = ok(await call(server, "GET", "admin/operators", { token: admin })) as Json[];
    return list.find((o) => o.operator_id === "op-1");
  };

  // The visitor "op-1" (a site could vouch for a user with that id) starts a chat.
  const visitorToken = (await server.auth.issueVisitorToken("op-1")).token;
  const mine = ok(await call(server, "POST", "chats", { token: visitorToken, body: {} }), 201);
  assert.equal(mine.client_id, "op-1");
  const visitor = await sockets.connect(mine.ws_url);
  assert.equal(visitor.frames[0].payload.role, "client");
  assert.equal(await operators(), undefined, "a visitor does not make an operator");

  // Alice's chat is taken by the operator op-1.
  const alice = await server.createChat("alice");
  const aliceWs = await sockets.connect(alice.ws_url);
  const op = await openStaff(sockets, server.wsUrl(await server.staffToken("op-1")));
  assertAck(await op.request("accept_chat", { chat_id: alice.chat_id }));
  await aliceWs.next(isFrame("chat_assigned", alice.chat_id));
  const hi = assertAck(await op.request("message", { chat_id: alice.chat_id, text: "hi alice" }));
  await aliceWs.next((f) => f.type === "message" && f.payload.seq === hi.payload.seq);
  const back = assertAck(await aliceWs.request("message", { text: "hi op" }));
  await op.next((f) => f.type === "message" && f.payload.seq === back.payload.seq);
  assert.equal((await operators()).connections, 1, "only the operator's socket counts");

  // The visitor cannot act in alice's chat, over its socket or REST.
  assertError(
    await visitor.request("message", { chat_id: alice.chat_id, text: "let me in" }),
    "forbidden",
  );
  assertError(await visitor.request("accept_chat", { chat_id: alice.chat_id }), "forbidden");
  for (const token of [mine.client_token, visitorToken]) {
    assert.equal((await fetchHistory(server, alice.chat_id, token)).status, 403);
  }
  // And the operator gets none of the visitor's own chat's messages (it is not theirs).
  const own = assertAck(await visitor.request("message", { text: "my own question" }));
  assert.equal((await op.request("ping")).type, "pong");

  // A ping's answer comes after every frame queued before it: nothing of alice's chat came.
  assert.equal((await visitor.request("ping")).type, "pong");
  const leaked = (f: Frame) => f.payload.chat_id === alice.chat_id && f.type !== "error";
  assert.deepEqual(visitor.frames.filter(leaked), [], "the visitor got alice's chat");
  assert.deepEqual(
    visitor.frames.filter((f) =>
      ["queue_snapshot", "new_chat_available", "chat_removed", "operator_status"].includes(f.type)
    ),
    [],
  );
  assert.equal(
    op.frames.filter((f) =>
      f.type === "message" && f.payload.seq === own.payload.seq &&
      f.payload.chat_id === mine.chat_id
    ).length,
    0,
  );

  // The operator goes away. Only the visitor "op-1" is connected: the grace starts anyway.
  const lost = nextCommit(server, "queue", "default", "operator_lost");
  await op.close();
  await lost;
  const row = await operators();
  assert.equal(row.connections, 0, "the visitor's socket is not the operator's");
  assert.equal(row.connected, false);
  const expired = nextCommit(server, "queue", "default", "operator_expired");
  await clock.advance(5_000);
  await expired;
  const requeued = await aliceWs.next(isFrame("chat_transferred", alice.chat_id));
  assert.equal(requeued.payload.to_queue, true);
  assert.equal(requeued.payload.from_operator_id, "op-1");
  const snap = await server.svc.queueSnapshot();
  assert.deepEqual(
    snap.waiting.map((w) => w.chatId).sort(),
    [alice.chat_id, mine.chat_id].sort(),
  );
  assert.equal((await operators()).status, "offline");
  // The visitor stayed connected throughout and still got nothing of alice's chat.
  assert.equal((await visitor.request("ping")).type, "pong");
  assert.equal(visitor.closeEvent, null);
  assert.deepEqual(visitor.frames.filter(leaked), []);
});

Deno.test("identity: a visitor op-1 shares no connection slots, budgets or SSE streams with operator op-1", async () => {
  // Guards against: per-user limits and SSE stream owners keyed by the bare id, so a visitor
  // named like an operator could use up the operator's connections and message budget (locking
  // the operator out) or send frames on the operator's SSE stream.
  await using server = await startTestServer({
    MAX_CONNECTIONS_PER_TOKEN: "2",
    RATE_LIMIT_PER_MIN: "3",
  });
  await using sockets = new Sockets();
  const visitorChat = await server.createChat("op-1");
  const visitors = [
    await sockets.connect(visitorChat.ws_url),
    await sockets.connect(visitorChat.ws_url),
  ];
  const third = await sockets.open(visitorChat.ws_url);
  const refused = await within(third.closed(), "the third visitor socket to be refused");
  assert.equal(refused.code, 4002);
  // The visitor spends its whole message budget.
  for (let i = 1; i <= 3; i++) assertAck(await visitors[0].request("message", { text: `m${i}` }));
  assertError(await visitors[1].request("message", { text: "one more" }), "rate_limited");

  // Operator op-1 still has both connections and a full budget of its own.
  const opToken = await server.staffToken("op-1");
  const op = await openStaff(sockets, server.wsUrl(opToken));
  const alice = await server.createChat("alice");
  assertAck(await op.request("accept_chat", { chat_id: alice.chat_id }));
  const sse = await SseClient.connect(sseUrl(server, opToken));
  try {
    for (let i = 1; i <= 3; i++) {
      assertAck(await op.request("message", { chat_id: alice.chat_id, text: `reply ${i}` }));
    }
    // The operator's stream takes frames from the operator's token only.
    const ping = JSON.stringify({ type: "ping", ref: "p1" });
    for (const token of [visitorChat.client_token, visitorChat.visitor_token]) {
      const r = await sse.post(ping, { token });
      assert.equal(r.status, 409, JSON.stringify(r.body));
      assert.equal(r.code, "invalid_state");
    }
    const own = await sse.post(ping, { token: opToken });
    assert.equal(own.status, 200);
    assert.equal(own.body?.type, "pong");
  } finally {
    await sse.close();
  }
});

Deno.test("identity: in auto routing, offers to operator op-1 do not reach the visitor op-1", async () => {
  // Guards against: frames for one staff member (`chat_offered`) delivered to every connection
  // of the bare id, so a visitor named like an operator saw which chats were offered to them.
  await using server = await startTestServer({ ROUTING_MODE: "auto", ACCEPT_TIMEOUT_S: "60" });
  await using sockets = new Sockets();
  const op = await openStaff(sockets, server.wsUrl(await server.staffToken("op-1")));
  // The visitor's own chat is offered to the operator (it is a chat like any other).
  const visitorChat = await server.createChat("op-1");
  await op.next(isFrame("chat_offered", visitorChat.chat_id));
  const visitor = await sockets.connect(visitorChat.ws_url);
  // While the visitor is connected, alice's chat is offered to the operator.
  const alice = await server.createChat("alice");
  await op.next(isFrame("chat_offered", alice.chat_id));
  assertAck(await op.request("accept_chat", { chat_id: alice.chat_id }));
  assert.equal((await visitor.request("ping")).type, "pong");
  assert.deepEqual(visitor.ofType("chat_offered"), []);
  assert.deepEqual(visitor.frames.filter((f) => f.payload.chat_id === alice.chat_id), []);
});
