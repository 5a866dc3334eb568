import assert from "node:assert/strict";
import { AppError } from "../../src/errors.ts";
import { fileURLToPath } from "node:url";
import { Authenticator, DEV_SECRET, resolveSecret } from "../../src/auth/mod.ts";
import { verifyJwt } from "../../src/auth/jwt.ts";

const SECRET = "test-secret-0123456789-abcdefghijklmnop";
const NOW = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

function setup(now = NOW) {
  const clock = { t: now, now: () => clock.t };
  const auth = new Authenticator({ secret: SECRET, clientTokenTtlMs: HOUR, clock });
  return { auth, clock };
}

function unauthorized(reason: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof AppError);
    assert.equal(err.code, "unauthorized");
    assert.match(err.message, reason);
    return true;
  };
}

function env(vars: Record<string, string>) {
  return { get: (k: string) => vars[k] };
}

Deno.test("authenticate() turns a staff token into a staff principal", async () => {
  const { auth } = setup();
  const token = await auth.mintStaffToken({
    sub: "op-1",
    role: "lawyer",
    name: "Olga",
    ttlSeconds: 60,
  });
  assert.deepEqual(await auth.authenticate(token), {
    id: "op-1",
    role: "lawyer",
    scope: "staff",
    name: "Olga",
    expiresAt: NOW + 60_000,
  });
});

Deno.test("authenticate() leaves name out when the staff token has none", async () => {
  const { auth } = setup();
  const principal = await auth.authenticate(
    await auth.mintStaffToken({ sub: "adm", role: "admin", ttlSeconds: 60 }),
  );
  assert.equal("name" in principal, false);
});

Deno.test("authenticate() turns a client token into a client principal for its chat", async () => {
  const { auth } = setup();
  const { token, expiresAt } = await auth.issueClientToken("chat-A", "client-1");
  assert.equal(expiresAt, NOW + HOUR);
  assert.deepEqual(await auth.authenticate(token), {
    id: "client-1",
    role: "client",
    scope: "chat",
    chatId: "chat-A",
    expiresAt,
  });
});

Deno.test("authenticate() turns a visitor token into a visitor principal that opens no chat", async () => {
  const { auth, clock } = setup();
  const { token, expiresAt } = await auth.issueVisitorToken("v-1");
  assert.deepEqual(await auth.authenticate(token), {
    id: "v-1",
    role: "client",
    scope: "visitor",
    expiresAt,
  });
  // A chat token's signature cannot be passed off as a visitor's, nor the other way round.
  const chat = (await auth.issueClientToken("chat-A", "v-1")).token;
  const forged = `v1.${chat.split(".").slice(2).join(".")}`;
  await assert.rejects(auth.authenticate(forged), unauthorized(/Visitor token/));
  clock.t = expiresAt;
  await assert.rejects(auth.authenticate(token), unauthorized(/expired/));
});

Deno.test("authenticate() refuses HS256 staff tokens when only the identity provider's count", async () => {
  const clock = { t: NOW, now: () => clock.t };
  const hs = new Authenticator({ secret: SECRET, clock });
  const token = await hs.mintStaffToken({ sub: "op-1", role: "operator", ttlSeconds: 60 });
  const strict = new Authenticator({ secret: SECRET, clock, hs256Staff: false });
  await assert.rejects(strict.authenticate(token), unauthorized(/identity provider/));
  // Server-made tokens still work: they are not staff tokens.
  const { token: chat } = await strict.issueClientToken("chat-A", "client-1");
  assert.equal((await strict.authenticate(chat)).scope, "chat");
});

Deno.test("authenticate() rejects both kinds of token once the clock passes expiry", async () => {
  const { auth, clock } = setup();
  const staff = await auth.mintStaffToken({ sub: "op-1", role: "operator", ttlSeconds: 60 });
  const { token: client } = await auth.issueClientToken("chat-A", "client-1");
  clock.t = NOW + 60_000;
  await assert.rejects(auth.authenticate(staff), unauthorized(/expired/));
  await auth.authenticate(client);
  clock.t = NOW + HOUR;
  await assert.rejects(auth.authenticate(client), unauthorized(/expired/));
});

Deno.test("authenticate() rejects a missing token", async () => {
  const { auth } = setup();
  for (const token of [undefined, null, ""]) {
    await assert.rejects(auth.authenticate(token), unauthorized(/^Token is missing$/));
  }
});

Deno.test("authenticate() rejects tokens from an authenticator with another secret", async () => {
  const { auth } = setup();
  const other = new Authenticator({
    secret: DEV_SECRET,
    clientTokenTtlMs: HOUR,
    clock: { now: () => NOW },
  });
  const staff = await other.mintStaffToken({ sub: "op-1", role: "admin", ttlSeconds: 60 });
  const { token: client } = await other.issueClientToken("chat-A", "client-1");
  await assert.rejects(auth.authenticate(staff), unauthorized(/signature/));
  await assert.rejects(auth.authenticate(client), unauthorized(/signature/));
});

Deno.test("mintStaffToken() refuses a role that is not a staff role", async () => {
  const { auth } = setup();
  // @ts-expect-error: "client" is not a StaffRole
  await assert.rejects(auth.mintStaffToken({ sub: "x", role: "client", ttlSeconds: 60 }), Error);
});

Deno.test("resolveSecret() falls back to the dev secret when JWT_SECRET is not set", () => {
  assert.deepEqual(resolveSecret(env({})), { secret: DEV_SECRET, isDevDefault: true });
});

Deno.test("resolveSecret() uses JWT_SECRET when it is long enough", () => {
  assert.deepEqual(resolveSecret(env({ JWT_SECRET: SECRET })), {
    secret: SECRET,
    isDevDefault: false,
  });
});

Deno.test("resolveSecret() throws when JWT_SECRET is shorter than 32 characters", () => {
  assert.throws(() => resolveSecret(env({ JWT_SECRET: "short" })), /at least 32 characters/);
  assert.throws(() => resolveSecret(env({ JWT_SECRET: "" })), /at least 32 characters/);
});

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Runs `scripts/token.ts` in a child Deno with only the given variables (plus cache paths). */
async function runTokenScript(args: string[], vars: Record<string, string> = {}) {
  const keep = ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"];
  const inherited = Object.fromEntries(
    keep.flatMap((k) => Deno.env.get(k) === undefined ? [] : [[k, Deno.env.get(k)!]]),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-env", "scripts/token.ts", ...args],
    cwd: ROOT,
    clearEnv: true,
    env: { ...inherited, NO_COLOR: "1", ...vars },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("the token script prints only a JWT that verifies with JWT_SECRET", async () => {
  const args = ["--role", "operator", "--sub", "op-1", "--name", "Olga", "--ttl", "600"];
  const { code, stdout, stderr } = await runTokenScript(args, { JWT_SECRET: SECRET });
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
  assert.match(stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/);
  const claims = await verifyJwt(stdout.trim(), SECRET, Date.now());
  assert.equal(claims.sub, "op-1");
  assert.equal(claims.role, "operator");
  assert.equal(claims.name, "Olga");
  assert.equal(claims.exp - (claims.iat ?? 0), 600);
});

Deno.test("the token script warns on stderr when it signs with the dev secret", async () => {
  const { code, stdout, stderr } = await runTokenScript(["--role", "admin", "--sub", "adm"]);
  assert.equal(code, 0, stderr);
  assert.match(stderr, /JWT_SECRET is not set/);
  const claims = await verifyJwt(stdout.trim(), DEV_SECRET, Date.now());
  assert.equal(claims.exp - (claims.iat ?? 0), 86400);
});

Deno.test("the token script exits with code 2 and a clear error on a bad role", async () => {
  const { code, stdout, stderr } = await runTokenScript(["--role", "root", "--sub", "x"]);
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assert.match(stderr, /--role must be operator, lawyer or admin/);
});

Deno.test("the token script prints usage for --help", async () => {
  const { code, stdout } = await runTokenScript(["--help"]);
  assert.equal(code, 0);
  assert.match(stdout, /^Usage: deno task token/);
});

Deno.test("Authenticator.authenticate() remembers a verified token but still refuses it once expired", async () => {
  let now = Date.UTC(2026, 0, 1);
  const auth = new Authenticator({
    secret: "a-secret-of-at-least-32-characters-long",
    clientTokenTtlMs: 60_000,
    clock: { now: () => now },
  });
  const staff = await auth.mintStaffToken({ sub: "op-1", role: "operator", ttlSeconds: 60 });
  const { token: client } = await auth.issueClientToken("chat-1", "c-1");
  assert.equal((await auth.authenticate(staff)).id, "op-1");
  assert.equal((await auth.authenticate(client)).chatId, "chat-1");
  assert.equal((await auth.authenticate(staff)).id, "op-1", "served again (from the cache)");
  now += 61_000;
  for (const t of [staff, client]) {
    await assert.rejects(
      auth.authenticate(t),
      (e: unknown) => e instanceof AppError && e.code === "unauthorized",
    );
  }
});
