/**
 * `deno task ops erase-client` (in this process, through `main`): a reason is required, the erase
 * goes through the admin route, and a second run finds nothing. Backup and restore are tested
 * as child processes in backup_test.ts.
 */
import assert from "node:assert/strict";
import { main } from "../../scripts/ops.ts";
import { startTestServer } from "../integration/_harness.ts";

Deno.test("ops erase-client: --reason required; erases the client's chats, then finds none", async () => {
  await using server = await startTestServer();
  const token = await server.staffToken("adm", "admin");
  await server.createChat("cli-erase-client-01");
  const run = async (...args: string[]) => {
    const out: string[] = [], err: string[] = [];
    const env = new Map([["CHAT_URL", server.url], ["ADMIN_TOKEN", token]]);
    const code = await main(args, env, { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { code, out: out.join("\n"), err: err.join("\n") };
  };
  const usage = await run("erase-client", "cli-erase-client-01");
  assert.equal(usage.code, 2);
  assert.match(usage.err, /--reason/);
  const done = await run("erase-client", "cli-erase-client-01", "--reason", "ticket 7");
  assert.equal(done.code, 0, done.err);
  assert.match(done.out, /^Client cli-erase-client-01 erased: 1 chat\(s\) \(1 closed first\)/);
  const json = await run("erase-client", "cli-erase-client-01", "--reason", "ticket 7", "--json");
  assert.equal(json.code, 0, json.err);
  assert.equal(JSON.parse(json.out).chats, 0);
});
