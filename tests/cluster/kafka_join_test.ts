/**
 * A node joins, and then leaves cleanly, under traffic: two engine processes on librdkafka's mock
 * cluster (a mock speaking the Kafka protocol, NOT a real broker) sharing one KV file. Clients and
 * operators exchange messages without pause, first through node 1 alone, then through both nodes
 * while node 2 joins and takes half of the partitions, then through node 1 again while node 2
 * shuts down and hands its partitions back. Every request must be acknowledged the first time
 * (no error frame, no retry: a move is latency, not an error), and the stored history must hold
 * each acknowledged message exactly once. On the code before the hand-over (issue 12, item 6),
 * the new owner bumped the epoch while the old one still wrote, and some sends failed with
 * `unavailable: Storage write was fenced`.
 */
import assert from "node:assert/strict";
import { clusterTopics } from "../../src/cluster/topics.ts";
import { childAuth, createChat, type Frame, WsClient, wsUrl } from "../integration/_harness.ts";
import { startKafkaMock } from "../kafka_mock/mock.ts";
import { clusterStatus, type KafkaNode, spawnNode, until, untilOwners } from "./_kafka_nodes.ts";

const PARTITIONS = 6;
const CHATS = 6;
const OPERATORS = 3;
/** Sends each chat keeps in flight at once (so actors have mailboxes to drain in a move). */
const LANES = Number(Deno.env.get("JOIN_LANES") ?? 4);
const auth = childAuth();

interface Sent {
  chat: string;
  text: string;
  seq: number;
  via: string;
}

/** One side of a chat: its sockets, one per node it is connected to, used in turn. */
interface Side {
  readonly name: string;
  sockets: Map<string, WsClient>;
}

Deno.test({
  name:
    "librdkafka's mock cluster (not a real broker): a node joins and then leaves under traffic; every send acknowledged, each stored once",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using mock = await startKafkaMock(clusterTopics(PARTITIONS));
    const dir = await Deno.makeTempDir({ prefix: "chat-kafka-join-" });
    const env = {
      KAFKA_BROKERS: mock.bootstrap,
      COMMAND_PARTITIONS: String(PARTITIONS),
      KAFKA_SESSION_TIMEOUT_MS: "3000",
      KAFKA_HEARTBEAT_MS: "300",
      KAFKA_MAX_WAIT_MS: "20",
      NODE_HEARTBEAT_S: "1",
      // Longer than the default 5 s: on this mock a rebalance takes seconds (session timeout −
      // 1 s, 3 s for a first join), a join its SyncGroup quirk refuses takes another round, and
      // the test shares two cores with other engines; a move must still be no error.
      ASK_TIMEOUT_MS: "15000",
      RATE_LIMIT_PER_MIN: "100000",
    };
    const nodes: KafkaNode[] = [];
    const sockets: WsClient[] = [];
    const sent: Sent[] = [];
    const failures: string[] = [];
    let refs = 0;
    /** Requests in flight per socket: a socket is closed only once it has none. */
    const busy = new Map<WsClient, number>();
    let running = true;
    const loops: Promise<void>[] = [];
    try {
      const n1 = await spawnNode("node-1", `${dir}/chat.kv`, env);
      nodes.push(n1);
      await untilOwners(n1, PARTITIONS, ["node-1"], "node 1 owns every partition");

      // Chats, their clients and operators, all on node 1 to start with.
      const ops: Side[] = [];
      const opTokens: string[] = [];
      for (let i = 0; i < OPERATORS; i++) {
        const token = await auth.mintStaffToken({
          sub: `op-${i}`,
          role: "operator",
          ttlSeconds: 3600,
        });
        opTokens.push(token);
        const ws = await WsClient.connect(wsUrl(n1.url, token));
        sockets.push(ws);
        ops.push({ name: `op-${i}`, sockets: new Map([[n1.name, ws]]) });
      }
      const chats: Array<{ id: string; token: string; client: Side; op: Side }> = [];
      for (let i = 0; i < CHATS; i++) {
        const chat = await createChat(n1.url, `client-${i}`);
        const ws = await WsClient.connect(chat.ws_url);
        sockets.push(ws);
        const op = ops[i % OPERATORS];
        const ack = await op.sockets.get(n1.name)!.request("accept_chat", {
          chat_id: chat.chat_id,
        });
        assert.equal(ack.type, "ack", JSON.stringify(ack));
        chats.push({
          id: chat.chat_id,
          token: chat.client_token,
          client: { name: `client-${i}`, sockets: new Map([[n1.name, ws]]) },
          op,
        });
      }

      /** Sends once and waits for the answer; anything but an ack is a user-visible failure. */
      const send = async (side: Side, chatId: string, n: number) => {
        const via = [...side.sockets.keys()][n % side.sockets.size];
        const ws = side.sockets.get(via)!;
        const text = `${side.name} #${n} via ${via}`;
        let reply: Frame;
        busy.set(ws, (busy.get(ws) ?? 0) + 1);
        try {
          const ref = `s${++refs}`;
          const answer = ws.next((f) => f.ref === ref && (f.type === "ack" || f.type === "error"), {
            timeoutMs: 30_000, // a guard: acks come in milliseconds to seconds
          });
          ws.send("message", { chat_id: chatId, text, client_msg_id: crypto.randomUUID() }, ref);
          reply = await answer;
        } catch (err) {
          failures.push(`${text}: ${err}`);
          return;
        } finally {
          busy.set(ws, busy.get(ws)! - 1);
        }
        if (reply.type === "ack") {
          sent.push({ chat: chatId, text, seq: reply.payload.seq as number, via });
        } else failures.push(`${text}: ${JSON.stringify(reply.payload)}`);
      };
      // Each chat: the client and its operator take turns, without pause, until told to stop, in
      // LANES lanes at once.
      for (const chat of chats) {
        for (let lane = 0; lane < LANES; lane++) {
          loops.push((async () => {
            for (let n = lane; running; n += LANES) {
              await send(chat.client, chat.id, n);
              if (!running) break;
              await send(chat.op, chat.id, n);
            }
          })());
        }
      }
      const acked = (via?: string) => sent.filter((s) => !via || s.via === via).length;
      const more = async (count: number, via: string | undefined, what: string) => {
        const target = acked(via) + count;
        await until(what, () => (acked(via) >= target || failures.length > 0) ? true : undefined);
      };
      await more(3 * CHATS, undefined, "traffic through node 1");

      // Node 2 joins while the traffic goes on; the group gives it half of the partitions.
      const n2 = await spawnNode("node-2", `${dir}/chat.kv`, env);
      nodes.push(n2);
      await untilOwners(n1, PARTITIONS, ["node-1", "node-2"], "both nodes own partitions");
      // Everyone also connects to node 2 and sends through both nodes in turn.
      for (const side of [...ops, ...chats.map((c) => c.client)]) {
        const token = side.name.startsWith("op-")
          ? opTokens[Number(side.name.slice(3))]
          : chats.find((c) => c.client === side)!.token;
        const ws = await WsClient.connect(wsUrl(n2.url, token));
        sockets.push(ws);
        side.sockets.set(n2.name, ws);
      }
      await more(3 * CHATS, n2.name, "traffic through node 2");
      const joined = (await clusterStatus(n2)).local!.counters;

      // Node 2 leaves cleanly: its sockets go first (once their requests are answered), then
      // it hands every partition back.
      for (const side of [...ops, ...chats.map((c) => c.client)]) {
        const ws = side.sockets.get(n2.name)!;
        side.sockets.delete(n2.name);
        await until("requests on a node 2 socket answered", () => busy.get(ws) ? undefined : true);
        await ws.close();
      }
      await more(CHATS, n1.name, "traffic through node 1 alone again");
      const left = n2.kill("SIGTERM");
      assert.equal((await left).code, 0, "node 2 stopped cleanly");
      await untilOwners(n1, PARTITIONS, ["node-1"], "node 1 owns every partition again");
      await more(3 * CHATS, n1.name, "traffic after node 2 left");
      running = false;
      await Promise.all(loops);

      assert.deepEqual(failures, [], "every send was acknowledged the first time");
      const view = await clusterStatus(n1);
      // The moves were hand-overs: no write of either node was fenced, neither a user's nor the
      // snapshot an old owner writes as it lets an actor go (before this change the new owner's
      // claim often refused those: "release snapshot failed ... fenced").
      const why = JSON.stringify(
        {
          node1: view.local?.counters,
          node2: joined,
          log: nodes.flatMap((n) =>
            n.log.filter((l) => /fenced|hand-over|heartbeat|refused/i.test(l)).map((l) =>
              `${n.name}: ${l.slice(0, 300)}`
            )
          ),
        },
        null,
        1,
      );
      assert.equal(view.local?.counters.fenced, 0, why);
      for (const n of nodes) assert.deepEqual(n.log.filter((l) => /fenced/i.test(l)), [], why);

      // Each acknowledged message is stored once, at its acknowledged seq; nothing else is.
      for (const chat of chats) {
        const events: Frame[] = [];
        for (let after = 0;;) {
          const res = await fetch(
            `${n1.url}/api/v1/chat/chats/${chat.id}/history?after_seq=${after}&limit=500`,
            { headers: { authorization: `Bearer ${chat.token}` } },
          );
          const page = await res.json() as {
            events: Frame[];
            next_after_seq: number;
            has_more: boolean;
          };
          events.push(...page.events);
          if (!page.has_more) break;
          after = page.next_after_seq;
        }
        const stored = events.filter((e) => e.type === "message");
        const mine = sent.filter((s) => s.chat === chat.id);
        assert.equal(stored.length, mine.length, `chat ${chat.id}: stored = acknowledged`);
        for (const s of mine) {
          const at = stored.filter((m) => m.payload.seq === s.seq);
          assert.equal(at.length, 1, `seq ${s.seq}`);
          assert.equal(at[0].payload.message, s.text);
        }
      }
      const c1 = view.local!.counters;
      console.log(
        `acknowledged ${sent.length} sends (${acked(n2.name)} through node 2), none failed; ` +
          `node 2 waited for ${joined.hand_over_waits} hand-overs (${joined.hand_over_wait_ms} ms ` +
          `in all, ${joined.hand_over_bound} at the bound); node 1 then for ` +
          `${c1.hand_over_waits} (${c1.hand_over_wait_ms} ms, ${c1.hand_over_bound} at the bound)`,
      );
    } finally {
      running = false;
      await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 25_000))]);
      for (const s of sockets) await s.close().catch(() => {});
      for (const n of nodes) await n.kill("SIGKILL");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
