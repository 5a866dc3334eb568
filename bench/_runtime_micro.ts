// Scratch microbenchmark: session actor + group commit, no sockets.
import { ActorSystem } from "../src/runtime/mod.ts";
import { sessionEntity } from "../actors/session.ts";
import { queueEntity } from "../actors/queue.ts";
import { operatorEntity } from "../actors/operator.ts";
const kv = await Deno.openKv("/tmp/mb/x.kv");
const system = new ActorSystem({
  kv,
  entities: [sessionEntity, queueEntity, operatorEntity],
  passivateAfterMs: 0,
});
const pairs = 200, inflight = 50, total = 200_000;
for (let i = 0; i < pairs; i++) {
  await system.ask(sessionEntity, `s${i}`, {
    type: "create",
    by: { id: `c${i}`, role: "client" },
    clientId: `c${i}`,
    kind: "support",
    queue: "q",
    priority: 0,
  });
}
let sent = 0, done = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: pairs * inflight }, async (_, k) => {
  const i = k % pairs;
  while (sent < total) {
    sent++;
    await system.ask(sessionEntity, `s${i}`, {
      type: "message",
      by: { id: `c${i}`, role: "client" },
      text: "hello world " + sent,
      clientMsgId: `m${sent}`,
    });
    done++;
  }
}));
const s = (performance.now() - t0) / 1000;
console.log(
  `${done} msgs in ${s.toFixed(2)}s = ${
    (done / s).toFixed(0)
  } msgs/s; commits=${system.committer.stats.commits} requests=${system.committer.stats.requests}`,
);
Deno.exit(0);
