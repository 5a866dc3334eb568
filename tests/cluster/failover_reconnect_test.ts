/**
 * Failover seen from a staff reconnect (issue 12, items 5 and 7): two engine processes on
 * librdkafka's mock cluster (a mock speaking the Kafka protocol, NOT a real broker) sharing one KV
 * file. Node B owns the operator's chats (and, by run, the queue, and the operator's actor too);
 * the operator's socket is on B. B is killed (SIGKILL) and, at once, the operator reconnects
 * through node A while B's partitions are still nobody's: once with a multi-chat `resume=` cursor
 * on the URL, once without (live from now), and an admin socket opened on A before the kill asks
 * `resume` for each chat. Every connection must be told every chat in `open_chats` (or wait for it), follow them (a
 * client message sent after the failover reaches it), get the missed events of a `resume` in seq
 * order, never see an `error` frame (`timeout` was the symptom), and count 0 events out of seq
 * order per chat. Once the operator's sockets are closed, the roster must say it is no longer
 * connected (a connect counted twice, e.g. retried whole after its queue half timed out, kept it).
 *
 * On the code before the lookups were retried (the parent of 31312bf, LOOKUP_PATIENCE_MS) the
 * reconnect's `open_chats` left out the chats whose owner was unreachable and `resume` answered
 * `timeout`. Before the operator's actor and the queue were waited for as well (8a02fe0), a
 * reconnect whose actor was on the dead node was refused with `timeout`; before those two asks were
 * retried apart (114884d), the operator stayed connected after leaving in the `queue` run.
 */
import assert from "node:assert/strict";
import { clusterTopics, partitionOf } from "../../src/cluster/topics.ts";
import { childAuth, createChat, type Frame, WsClient, wsUrl } from "../integration/_harness.ts";
import { startKafkaMock } from "../kafka_mock/mock.ts";
import { type KafkaNode, mockNodeEnv, spawnNode, until, untilOwners } from "./_kafka_nodes.ts";

const PARTITIONS = 6;
/** Chats of the operator whose owner is the node that dies. */
const CHATS = 3;
const QUEUE = "default";
const auth = childAuth();

/** Opens a socket and waits for `connected` (a reconnect during failover may wait for owners). */
async function connect(url: string): Promise<{ ws: WsClient; connected: Frame }> {
  const ws = await WsClient.open(url);
  const connected = await ws.next((f) => f.type === "connected" || f.type === "error", {
    timeoutMs: 40_000, // a guard: the failover takes seconds on the mock
  }).catch((err) => ws.ofType("error")[0] ?? { type: "closed", payload: { err: String(err) } });
  return { ws, connected };
}

/**
 * Starts a node, again if its start failed: with asks as short as here, a start whose first join
 * the mock refuses (its SyncGroup quirk, docs/CLUSTER.md) can time out asking the queue, and the
 * process exits (a supervisor would start it again). Not what this test is about.
 */
async function spawnAgain(name: string, kvPath: string, env: Record<string, string>) {
  for (let attempt = 1;; attempt++) {
    try {
      return await spawnNode(name, kvPath, env);
    } catch (err) {
      if (attempt >= 3 || !/exited before listening/.test(String(err))) throw err;
    }
  }
}

/** A new chat; a cluster still settling after its start may ask for a retry (503/504). */
async function created(url: string) {
  for (let attempt = 1;; attempt++) {
    try {
      return await createChat(url);
    } catch (err) {
      if (attempt >= 10 || !/failed: 50[34]/.test(String(err))) throw err;
    }
  }
}

/** A client's send, retried with its client_msg_id while the answer is retryable. */
async function say(who: WsClient, chatId: string, text: string, errors: Frame[]) {
  const id = crypto.randomUUID();
  for (let attempt = 0; attempt < 40; attempt++) {
    const r = await who.request("message", { chat_id: chatId, text, client_msg_id: id });
    if (r.type === "ack") return r.payload.seq as number;
    errors.push(r);
    assert.equal(r.payload.retryable, true, JSON.stringify(r));
  }
  throw new Error(`"${text}" never acknowledged`);
}

/** Chat event seqs of `chatId` a socket received, in arrival order (acks and staff streams out). */
const chatSeqs = (ws: WsClient, chatId: string) =>
  ws.frames.filter((f) =>
    f.type !== "ack" && f.payload.chat_id === chatId && typeof f.payload.seq === "number" &&
    f.payload.stream === undefined && !["note", "labels", "mention"].includes(f.type)
  ).map((f) => f.payload.seq as number);

/** Events that did not come right after the one before (a gap, a repeat or out of order). */
function outOfOrder(seqs: number[], from: number): number {
  let bad = 0;
  let last = from;
  for (const s of seqs) {
    if (s !== last + 1) bad++;
    last = Math.max(last, s);
  }
  return bad;
}

/**
 * What lives on the node that dies: `chats`, only the operator's chats (the queue and the
 * operator's actor on the survivor); `queue`, the chats and the queue; `all`, the chats, the queue
 * and the operator's actor.
 */
type Dies = "chats" | "queue" | "all";
const WHAT: Record<Dies, string> = {
  chats: "its chats",
  queue: "its chats and the queue",
  all: "its queue, operator and chats",
};

for (const dies of ["chats", "queue", "all"] as const) {
  Deno.test({
    name:
      `librdkafka's mock cluster (not a real broker): a staff reconnect while the dead node's ` +
      `partitions move (${WHAT[dies]} on it) lists and follows every chat, resumes in seq ` +
      `order, sees no error; gone, it is gone`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () => failover(dies),
  });
}

async function failover(dies: Dies) {
  await using mock = await startKafkaMock(clusterTopics(PARTITIONS));
  const dir = await Deno.makeTempDir({ prefix: "chat-failover-" });
  const env = mockNodeEnv(mock.bootstrap, PARTITIONS, {
    // Shorter than the failover (≈ 5 s on the mock): a lookup of a chat on the dead node times
    // out at least once, as with the defaults (10 s session timeout, 5 s asks).
    ASK_TIMEOUT_MS: "2000",
    RATE_LIMIT_PER_MIN: "100000",
  });
  const nodes: KafkaNode[] = [];
  const sockets: WsClient[] = [];
  try {
    nodes.push(await spawnNode("node-1", `${dir}/chat.kv`, env));
    nodes.push(await spawnAgain("node-2", `${dir}/chat.kv`, env));
    const status = await untilOwners(
      nodes[0],
      PARTITIONS,
      ["node-1", "node-2"],
      "both nodes own partitions",
    );
    const ownerOf = (type: string, id: string) => {
      const p = partitionOf({ type, id }, PARTITIONS);
      return status.partitions.find((x) => x.partition === p)!.name;
    };
    // B will die, A survives. B owns the queue (queue, all) or A does (chats); the operator's
    // actor is on B (all) or A.
    const queueOwner = nodes.find((n) => n.name === ownerOf("queue", QUEUE))!;
    const b = dies === "chats" ? nodes.find((n) => n !== queueOwner)! : queueOwner;
    const a = nodes.find((n) => n !== b)!;
    const onB = (type: string, id: string) => ownerOf(type, id) === b.name;
    let opId = "";
    for (let i = 0; !opId; i++) {
      if (onB("operator", `op-${i}`) === (dies === "all")) opId = `op-${i}`;
    }
    const opToken = await auth.mintStaffToken({ sub: opId, role: "operator", ttlSeconds: 3600 });
    const admToken = await auth.mintStaffToken({ sub: "adm", role: "admin", ttlSeconds: 3600 });

    // The operator works on B; its chats live on B; their clients are on A.
    const opB = (await connect(wsUrl(b.url, opToken))).ws;
    sockets.push(opB);
    const chats: Array<{ id: string; client: WsClient }> = [];
    while (chats.length < CHATS) {
      const chat = await created(a.url);
      if (!onB("session", chat.chat_id)) continue; // another client's chat, left waiting
      const client = (await connect(chat.ws_url)).ws;
      sockets.push(client);
      const ack = await opB.request("accept_chat", { chat_id: chat.chat_id });
      assert.equal(ack.type, "ack", JSON.stringify(ack));
      chats.push({ id: chat.chat_id, client });
    }
    const clientErrors: Frame[] = [];
    const cursor = new Map<string, number>();
    for (const c of chats) {
      const seq = await say(c.client, c.id, "before the crash", clientErrors);
      await opB.next((f) => f.type === "message" && f.payload.seq === seq);
      cursor.set(c.id, seq);
    }
    // Events the operator's reconnect has not seen (its cursor is older): stored on B.
    const missed = new Map<string, number[]>();
    for (const c of chats) {
      missed.set(c.id, [
        await say(c.client, c.id, "missed 1", clientErrors),
        await say(c.client, c.id, "missed 2", clientErrors),
      ]);
    }
    // An admin watching on A before the crash (it follows no chat yet).
    const adm = (await connect(wsUrl(a.url, admToken))).ws;
    sockets.push(adm);
    await adm.next((f) => f.type === "queue_snapshot"); // its opening is over

    // B dies. At once, the operator comes back through A: with a cursor, and without one;
    // and the admin asks to resume each chat. B's partitions are nobody's for seconds.
    await b.kill("SIGKILL");
    const killedAt = Date.now();
    const resumeParam = [...cursor].map(([id, seq]) => `${id}:${seq}`).join(",");
    const withCursor = connect(wsUrl(a.url, opToken, { resume: resumeParam }));
    const live = connect(wsUrl(a.url, opToken));
    const resumes = Promise.all(
      chats.map((c) =>
        adm.request("resume", { chat_id: c.id, last_seq: cursor.get(c.id)! }).catch((err) => ({
          type: "closed",
          payload: { err: String(err) },
        }))
      ),
    );
    // The clients keep writing meanwhile (their sends wait for the failover, then land).
    const during = Promise.all(chats.map((c) => say(c.client, c.id, "during", clientErrors)));
    during.catch(() => {}); // awaited below, after the reconnects

    const op1 = await withCursor;
    sockets.push(op1.ws);
    const op2 = await live;
    sockets.push(op2.ws);
    const connectedMs = Date.now() - killedAt;
    const ids = chats.map((c) => c.id).sort();
    for (const [name, op] of [["with a cursor", op1], ["without one", op2]] as const) {
      assert.equal(op.connected.type, "connected", `${name}: ${JSON.stringify(op.connected)}`);
      assert.deepEqual(
        [...(op.connected.payload.open_chats as string[])].sort(),
        ids,
        `the reconnect ${name} lists every chat of the operator`,
      );
    }
    for (const r of await resumes) {
      assert.equal(
        r.type,
        "ack",
        `the admin's resume: ${JSON.stringify(r)} ${adm.closeEvent?.reason ?? ""} ${
          JSON.stringify(adm.ofType("error"))
        }`,
      );
    }
    const duringSeqs = await during;

    // After the failover: each client writes again; every staff socket on A gets it, in
    // order after what it had. The operator answers through the socket that resumed.
    for (const [i, c] of chats.entries()) {
      const seq = await say(c.client, c.id, "after the failover", clientErrors);
      for (const ws of [op1.ws, op2.ws, adm]) {
        await ws.next((f) =>
          f.type === "message" && f.payload.chat_id === c.id &&
          f.payload.seq === seq, { timeoutMs: 20_000 });
      }
      const reply = await op1.ws.request("message", { chat_id: c.id, text: `answer ${i}` });
      assert.equal(reply.type, "ack", JSON.stringify(reply));
      await c.client.next((f) =>
        f.type === "message" && f.payload.chat_id === c.id && f.payload.seq === reply.payload.seq
      );
      for (const ws of [op1.ws, op2.ws, adm]) {
        await ws.next((f) =>
          f.type === "message" && f.payload.chat_id === c.id &&
          f.payload.seq === reply.payload.seq, { timeoutMs: 20_000 });
      }
    }

    // Every seq after the cursor, in order, on the sockets that resumed; the one without a
    // cursor follows from where it joined, in order too.
    const bad: Record<string, number> = { withCursor: 0, live: 0, admin: 0 };
    for (const c of chats) {
      const from = cursor.get(c.id)!;
      const s1 = chatSeqs(op1.ws, c.id);
      const sa = chatSeqs(adm, c.id);
      const s2 = chatSeqs(op2.ws, c.id);
      for (const seq of [...missed.get(c.id)!, duringSeqs[chats.indexOf(c)]]) {
        assert.ok(s1.includes(seq), `the cursor replays seq ${seq} of ${c.id}: [${s1}]`);
        assert.ok(sa.includes(seq), `the admin's resume replays seq ${seq}: [${sa}]`);
      }
      bad.withCursor += outOfOrder(s1, from);
      bad.admin += outOfOrder(sa, from);
      bad.live += s2.length ? outOfOrder(s2.slice(1), s2[0]) : 0;
    }
    const errors = [op1.ws, op2.ws, adm].flatMap((ws) => ws.ofType("error"));
    assert.deepEqual(errors, [], "no error frame reaches a staff socket (no `timeout`)");
    assert.deepEqual(bad, { withCursor: 0, live: 0, admin: 0 }, "events out of seq order");
    for (const ws of [op1.ws, adm]) {
      assert.equal(ws.ofType("resumed").length, CHATS, "one `resumed` per chat");
    }
    // The operator leaves: once its last socket is closed the queue takes it for gone (a
    // connect counted twice, e.g. retried after its queue half timed out, would keep it present).
    await op1.ws.close();
    await op2.ws.close();
    const present = async () => {
      const res = await fetch(`${a.url}/api/v1/chat/chats/operators`, {
        headers: { authorization: `Bearer ${admToken}` },
      });
      const roster = await res.json() as Array<{ operator_id: string; connected: boolean }>;
      return roster.find((o) => o.operator_id === opId)?.connected;
    };
    await until(
      `${opId} no longer connected`,
      async () => (await present()) ? undefined : true,
      15_000,
    )
      .catch(async (err) => {
        throw new Error(`${err.message}; the roster still says connected: ${await present()}`);
      });
    console.log(
      `reconnects answered ${connectedMs} ms after the kill; ${clientErrors.length} client ` +
        `sends retried meanwhile (${[...new Set(clientErrors.map((e) => e.payload.code))]}); ` +
        `events out of seq order per connection: ${JSON.stringify(bad)}`,
    );
  } finally {
    for (const s of sockets) await s.close().catch(() => {});
    for (const n of nodes) await n.kill("SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
