/**
 * `deno task demo [base-url]`: plays one whole chat against a running server and prints every
 * frame: a client opens a chat, an operator (dev token) accepts it, they talk, the client closes
 * and rates it. Uses JWT_SECRET or the development default, like the server.
 */
import { Authenticator, resolveSecret } from "../src/auth/mod.ts";

const base = Deno.args[0] ?? `http://127.0.0.1:${Deno.env.get("PORT") ?? "8080"}`;
const { secret } = resolveSecret(Deno.env);
const auth = new Authenticator({ secret, clock: { now: () => Date.now() } });

type Frame = { type: string; payload: Record<string, unknown>; ref?: string };

function peer(name: string, url: string) {
  const ws = new WebSocket(url);
  const waiting: Array<[(f: Frame) => boolean, (f: Frame) => void]> = [];
  ws.onmessage = (e) => {
    const f = JSON.parse(e.data) as Frame;
    console.log(`${name.padEnd(8)} <- ${f.type} ${JSON.stringify(f.payload)}`);
    const i = waiting.findIndex(([test]) => test(f));
    if (i >= 0) waiting.splice(i, 1)[0][1](f);
  };
  const until = (test: (f: Frame) => boolean) =>
    new Promise<Frame>((resolve) => waiting.push([test, resolve]));
  const send = (type: string, payload: Record<string, unknown>) => {
    const ref = crypto.randomUUID().slice(0, 8);
    console.log(`${name.padEnd(8)} -> ${type} ${JSON.stringify(payload)}`);
    ws.send(JSON.stringify({ type, payload, ref }));
    return until((f) => f.ref === ref);
  };
  return { ws, until, send, opened: new Promise((r) => ws.onopen = r) };
}

const res = await fetch(`${base}/api/v1/chat/chats`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ client_id: "demo-client" }),
});
const chat = await res.json();
console.log("created chat", chat.chat_id, "position", chat.position);

const opToken = await auth.mintStaffToken({
  sub: "demo-operator",
  role: "operator",
  ttlSeconds: 3600,
});
const operator = peer(
  "operator",
  `${base.replace(/^http/, "ws")}/api/v1/chat/ws/chat?token=${opToken}`,
);
const client = peer("client", chat.ws_url);
await Promise.all([operator.opened, client.opened]);
await Promise.all([
  operator.until((f) => f.type === "queue_snapshot"),
  client.until((f) => f.type === "connected"),
]);

await operator.send("accept_chat", { chat_id: chat.chat_id });
await client.until((f) => f.type === "chat_assigned");
await client.send("message", { text: "Hello, my order has not arrived", client_msg_id: "demo-1" });
await operator.send("message", { chat_id: chat.chat_id, text: "Sorry about that, let me check." });
await client.send("close_chat", { reason: "resolved" });
await client.send("rate", { score: 5, comment: "Fast and friendly" });

const history = await fetch(
  `${base}/api/v1/chat/chats/${chat.chat_id}/history?token=${chat.client_token}`,
);
console.log(
  "history:",
  (await history.json()).events.map((e: Frame) => `${e.payload.seq}:${e.type}`).join(" "),
);
operator.ws.close();
client.ws.close();
