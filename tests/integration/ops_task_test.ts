import assert from "node:assert/strict";
import { main } from "../../scripts/ops.ts";
import { startTestServer, type TestServer } from "./_harness.ts";
import { assignedChat, Sockets } from "./_util.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const OPS = new URL("../../scripts/ops.ts", import.meta.url).pathname;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Runs `deno run -A scripts/ops.ts …` as a child process, as `deno task ops` does. */
async function spawnOps(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", OPS, ...args],
    cwd: ROOT,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Runs the CLI's `main` in this process against the server. */
async function runOps(server: TestServer, token: string, ...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const env = new Map([["CHAT_URL", server.url], ["ADMIN_TOKEN", token]]);
  const code = await main(args, env, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

Deno.test("ops task: queue --json, a human-readable queue, and exit codes 1 and 2", async () => {
  await using server = await startTestServer();
  const env = { CHAT_URL: server.url, ADMIN_TOKEN: await server.staffToken("adm", "admin") };
  const first = await server.createChat("alice");
  const second = await server.createChat("bob");

  const json = await spawnOps(["queue", "--json"], env);
  assert.equal(json.code, 0, json.stderr);
  const q = JSON.parse(json.stdout);
  assert.equal(q.length, 2);
  assert.deepEqual(q.waiting.map((w: { chat_id: string }) => w.chat_id), [
    first.chat_id,
    second.chat_id,
  ]);

  const human = await spawnOps(["queue"], env);
  assert.equal(human.code, 0, human.stderr);
  const lines = human.stdout.trimEnd().split("\n");
  assert.match(lines[0], /^Queue default \(manual\): 2 waiting, 0 active/);
  const header = lines.findIndex((l) => /^#\s+CHAT\s+CLIENT\s+PRIO/.test(l));
  assert.ok(header > 0, human.stdout);
  const rows = lines.slice(header + 1, header + 3);
  assert.match(rows[0], new RegExp(`^1\\s+${first.chat_id}\\s+alice\\s+0\\s`));
  // Columns line up: the CLIENT column starts at the same place in the header and every row.
  const col = lines[header].indexOf("CLIENT");
  for (const r of rows) assert.match(r.slice(col), /^(alice|bob)\s/);

  const usage = await spawnOps(["transfer", first.chat_id, "--reason", "x"], env);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /exactly one of --to <operator> or --queue/);
  assert.equal((await spawnOps(["frobnicate"], env)).code, 2);
  const noToken = await spawnOps(["queue"], { ...env, ADMIN_TOKEN: "" });
  assert.equal(noToken.code, 2);
  assert.match(noToken.stderr, /ADMIN_TOKEN is not set/);

  const refused = await spawnOps(["close", "no-such-chat", "--json"], env);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^error: not_found: /);
  assert.equal(JSON.parse(refused.stdout).error.code, "not_found");
});

Deno.test("ops commands: transfer, priority, status, close, operators, stats, audit", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const admin = await server.staffToken("adm", "admin");
  const { chat } = await assignedChat(server, sockets, "op-1", "alice");
  await sockets.connect(server.wsUrl(await server.staffToken("op-2")));
  const waiting = await server.createChat("bob");

  const ok = async (...args: string[]) => {
    const r = await runOps(server, admin, ...args);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  assert.equal(
    await ok("transfer", chat.chat_id, "--to", "op-2", "--reason", "specialist"),
    `Chat ${chat.chat_id} transferred to op-2.`,
  );
  assert.equal(
    await ok("priority", waiting.chat_id, "-3"),
    `Chat ${waiting.chat_id} now has priority -3.`,
  );
  assert.equal(
    await ok("status", "op-1", "away", "--capacity", "3"),
    "Operator op-1: away, capacity 3, 0 open chats",
  );
  assert.match(await ok("status", "op-1", "online", "--capacity=default"), /capacity 5/);

  const operators = (await ok("operators")).split("\n");
  assert.match(operators[0], /^OPERATOR\s+ROLE\s+STATUS\s+CONN\s+OPEN\/CAP/);
  assert.ok(
    operators.some((l) => /^op-2\s+operator\s+online\s+yes \(1\)\s+1\/5/.test(l)),
    operators.join("\n"),
  );

  const stats = await ok("stats");
  assert.match(stats, /^Queue length:\s+1$/m);
  assert.match(stats, /^Active chats:\s+1$/m);

  const audit = await ok("audit", "--chat", chat.chat_id, "--limit", "10");
  assert.match(audit, /^TIME\s+ACTION\s+BY/);
  assert.match(audit, /transferred\s+adm \(admin\)/);
  assert.equal(
    await ok("transfer", chat.chat_id, "op-1", "--reason=back"),
    `Chat ${chat.chat_id} transferred to op-1.`,
  );
  assert.match(await ok("close", chat.chat_id, "--reason", "done"), /^Chat .* closed at /);
  assert.match(await ok("audit", "--operator", "op-1"), /closed\s+adm \(admin\)\s/);

  const opToken = await server.staffToken("op-1");
  const forbidden = await runOps(server, opToken, "queue");
  assert.equal(forbidden.code, 1);
  assert.match(forbidden.stderr, /^error: forbidden: /);
  for (
    const bad of [
      ["audit", "--chat", "a", "--operator", "b"],
      ["priority", "c"],
      ["status", "op-1", "sleeping"],
      ["queue", "--to", "x"],
      ["audit", "--limit", "many"],
      ["transfer", "c", "op-2", "--to", "op-2", "--reason", "x"],
      ["transfer", "c", "op-2", "--queue", "--reason", "x"],
    ]
  ) assert.equal((await runOps(server, admin, ...bad)).code, 2, bad.join(" "));
  assert.equal((await runOps(server, admin, "--help")).code, 0);
});
