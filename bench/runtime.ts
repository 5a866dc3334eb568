/**
 * `deno task bench:runtime`: the actor runtime alone, no sockets. Many chats receive messages
 * through `ask` with a bound on messages in flight; every reply means the event is stored in
 * Deno KV (a fresh file). Prints stored msgs/s and how well the group committer packed them.
 */
import { parseArgs } from "node:util";
import { operatorEntity } from "../actors/operator.ts";
import { queueEntity } from "../actors/queue.ts";
import { sessionEntity } from "../actors/session.ts";
import { ActorSystem } from "../src/runtime/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    chats: { type: "string", default: "200" },
    inflight: { type: "string", default: "50" },
    messages: { type: "string", default: "200000" },
  },
});
const chats = Number(values.chats), inflight = Number(values.inflight);
const total = Number(values.messages);

const dir = await Deno.makeTempDir({ prefix: "bench-runtime-" });
const kv = await Deno.openKv(`${dir}/chat.kv`);
const system = new ActorSystem({
  kv,
  entities: [sessionEntity, queueEntity, operatorEntity],
  passivateAfterMs: 0,
  snapshotEvery: 500,
});
try {
  for (let i = 0; i < chats; i++) {
    const by = { id: `c${i}`, role: "client" } as const;
    await system.ask(sessionEntity, `s${i}`, {
      type: "create",
      by,
      clientId: by.id,
      kind: "support",
      queue: "q",
      priority: 0,
    });
  }
  let sent = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: chats * inflight }, async (_, k) => {
    const i = k % chats;
    const by = { id: `c${i}`, role: "client" } as const;
    while (sent < total) {
      const n = ++sent;
      await system.ask(sessionEntity, `s${i}`, {
        type: "message",
        by,
        text: `hello ${n}`,
        clientMsgId: `m${n}`,
      });
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const c = system.committer.stats;
  console.log(
    `${total} messages stored in ${seconds.toFixed(2)} s = ${Math.round(total / seconds)} msgs/s ` +
      `(${chats} chats, ${inflight} in flight each); ${c.commits} KV atomics, ` +
      `${(c.requests / c.commits).toFixed(1)} actor batches and ` +
      `${(c.mutations / c.commits).toFixed(1)} mutations per atomic`,
  );
} finally {
  await system.shutdown();
  kv.close();
  await Deno.remove(dir, { recursive: true });
}
