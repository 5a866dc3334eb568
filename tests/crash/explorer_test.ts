/**
 * Every flow that spans actors, crashed after every KV commit and between every commit and its
 * effects, in turn; after each restart the invariants of `_explorer.ts` must hold. Deterministic:
 * one process, an in-memory KV, the injected clock. A failure names the flow and the crash point.
 */
import assert from "node:assert/strict";
import type { OutboundFrame } from "../../src/protocol/mod.ts";
import { explore, type Flow, type Story } from "./_explorer.ts";
import { ACCEPT_TIMEOUT_MS, GRACE_MS, type Node, type Peer } from "./_world.ts";

function ack(reply: OutboundFrame | null, what: string): OutboundFrame {
  if (reply?.type !== "ack") throw new Error(`${what} refused: ${JSON.stringify(reply)}`);
  return reply;
}

async function staff(
  node: Node,
  story: Story,
  id: string,
  role: "operator" | "lawyer" | "admin" = "operator",
): Promise<Peer> {
  const peer = await node.connect(node.staff(id, role));
  story.staff.set(id, role);
  return peer;
}

async function newChat(
  node: Node,
  story: Story,
  clientId: string,
  opts: { hold?: boolean } = {},
): Promise<{ chatId: string; client: Peer }> {
  const chatId = crypto.randomUUID();
  story.chats.add(chatId);
  await node.svc.createChat(clientId, chatId, opts.hold ? { hold: true } : {});
  const client = await node.connect(node.client(clientId, chatId));
  story.clients.set(clientId, { chatId, peer: client, done: false });
  return { chatId, client };
}

/** A client message with an id; remembered (and its ack) for the "stored once" check. */
async function say(node: Node, story: Story, clientId: string, text: string): Promise<void> {
  const c = story.clients.get(clientId)!;
  const msgId = `${clientId}-${story.sent.size + 1}`;
  story.sent.set(msgId, { chatId: c.chatId, clientId, seq: null });
  const reply = ack(
    await node.frame(c.peer, "message", { chat_id: c.chatId, text, client_msg_id: msgId }),
    "message",
  );
  story.sent.get(msgId)!.seq = (reply.payload as { seq: number }).seq;
}

/** After an acked step: what the chat's stored state must say, whatever happens next. */
function promise(
  story: Story,
  chatId: string,
  check: (s: { status: string; operatorId: string | null }) => boolean,
  what: string,
) {
  story.promises.push(async (view) => {
    const s = await view(chatId);
    return check(s)
      ? null
      : `${what}, but chat ${chatId.slice(0, 8)} is ${s.status} (${s.operatorId})`;
  });
}

async function accepted(node: Node, story: Story, clientId = "alice") {
  const op1 = await staff(node, story, "op-1");
  await staff(node, story, "op-2");
  const { chatId, client } = await newChat(node, story, clientId);
  ack(await node.frame(op1, "accept_chat", { chat_id: chatId }), "accept");
  await node.settle();
  return { chatId, client, op1 };
}

const FLOWS: Flow[] = [
  {
    name: "create and enqueue",
    async run(node, story) {
      await staff(node, story, "op-1");
      await newChat(node, story, "alice");
      await say(node, story, "alice", "hello");
    },
  },
  {
    name: "accept",
    async run(node, story) {
      const { chatId } = await accepted(node, story);
      promise(
        story,
        chatId,
        (s) => s.status === "assigned" && s.operatorId === "op-1",
        "accepted by op-1",
      );
      await say(node, story, "alice", "thanks");
    },
  },
  {
    name: "auto offer and its expiry",
    mode: "auto",
    async run(node, story) {
      await staff(node, story, "op-1");
      await staff(node, story, "op-2");
      await newChat(node, story, "alice");
      await node.settle(ACCEPT_TIMEOUT_MS + 1); // the offer to the first runs out: the next gets it
      await node.settle(ACCEPT_TIMEOUT_MS + 1);
    },
  },
  {
    name: "transfer to another operator",
    async run(node, story) {
      const { chatId, op1 } = await accepted(node, story);
      ack(
        await node.frame(op1, "transfer_chat", {
          chat_id: chatId,
          target_operator_id: "op-2",
          reason: "billing",
        }),
        "transfer",
      );
      promise(story, chatId, (s) => s.operatorId === "op-2", "transferred to op-2");
      await say(node, story, "alice", "after the transfer");
    },
  },
  {
    name: "transfer back to the queue",
    async run(node, story) {
      const { chatId, op1 } = await accepted(node, story);
      ack(
        await node.frame(op1, "transfer_chat", { chat_id: chatId, to_queue: true, reason: "x" }),
        "transfer",
      );
      promise(story, chatId, (s) => s.status === "queued", "sent back to the queue");
      await say(node, story, "alice", "waiting again");
    },
  },
  {
    name: "assign a lawyer",
    async run(node, story) {
      await staff(node, story, "law-1", "lawyer");
      const { chatId, op1 } = await accepted(node, story);
      const r = ack(
        await node.frame(op1, "assign_lawyer", { chat_id: chatId, lawyer_id: "law-1" }),
        "assign lawyer",
      );
      const lawyerChat = (r.payload as { chat_id: string }).chat_id;
      story.chats.add(lawyerChat);
      promise(story, lawyerChat, (s) => s.operatorId === "law-1", "a lawyer chat for law-1");
    },
  },
  {
    name: "close by the client",
    async run(node, story) {
      const { chatId, client } = await accepted(node, story);
      ack(await node.frame(client, "close_chat", { chat_id: chatId }), "close");
      story.clients.get("alice")!.done = true;
      promise(story, chatId, (s) => s.status === "closed", "closed by the client");
    },
  },
  {
    name: "close by the operator",
    async run(node, story) {
      const { chatId, op1 } = await accepted(node, story);
      ack(await node.frame(op1, "close_chat", { chat_id: chatId }), "close");
      promise(story, chatId, (s) => s.status === "closed", "closed by the operator");
    },
  },
  {
    name: "close of waiting chats by their clients",
    async run(node, story) {
      await staff(node, story, "op-1");
      for (const clientId of ["alice", "bob", "carol"]) {
        const { chatId, client } = await newChat(node, story, clientId);
        ack(await node.frame(client, "close_chat", { chat_id: chatId }), "close");
        story.clients.get(clientId)!.done = true;
        promise(story, chatId, (s) => s.status === "closed", `closed while waiting by ${clientId}`);
      }
    },
  },
  {
    name: "rate",
    async run(node, story) {
      const { chatId, client, op1 } = await accepted(node, story);
      ack(await node.frame(op1, "close_chat", { chat_id: chatId }), "close");
      ack(await node.frame(client, "rate", { chat_id: chatId, score: 5 }), "rate");
      story.clients.get("alice")!.done = true;
    },
  },
  {
    name: "requeue when the operator's presence runs out",
    async run(node, story) {
      const { chatId, op1 } = await accepted(node, story);
      op1.handler.onClose();
      story.staff.delete("op-1");
      await node.settle(GRACE_MS + 1);
      promise(
        story,
        chatId,
        (s) => s.status !== "assigned" || s.operatorId !== "op-1",
        "op-1 left",
      );
    },
  },
  {
    name: "bot escalation",
    async run(node, story) {
      await staff(node, story, "op-1");
      const { chatId } = await newChat(node, story, "alice", { hold: true });
      await say(node, story, "alice", "I need a human");
      await node.svc.escalate(chatId, "asked for a human");
      promise(story, chatId, (s) => s.status === "queued" || s.status === "assigned", "escalated");
    },
  },
  {
    name: "messages both ways",
    async run(node, story) {
      const { chatId, op1 } = await accepted(node, story);
      await say(node, story, "alice", "one");
      ack(await node.frame(op1, "message", { chat_id: chatId, text: "reply" }), "reply");
      await say(node, story, "alice", "two");
      await say(node, story, "alice", "three");
    },
  },
];

// The transfers and closes again, with the users back before the owed commands are sent again.
const RACING = FLOWS.filter((f) => /^(transfer|close)/.test(f.name)).map((f) => ({
  ...f,
  name: `${f.name}, reconnect before the redelivery`,
  reconnectFirst: true,
}));

for (const flow of [...FLOWS, ...RACING]) {
  Deno.test(`crash points: ${flow.name}`, async () => {
    const { commits, runs, failures } = await explore(flow);
    assert.ok(commits > 0, "the flow commits something");
    const lines = failures.map((f) =>
      `${f.flow} @ ${
        f.at ? `${f.at.when} commit ${f.at.n} (${f.commit})` : "no crash"
      }: ${f.problem}`
    );
    assert.deepEqual(lines, [], `${failures.length} failures in ${runs} runs`);
  });
}
