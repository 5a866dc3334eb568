/**
 * Calibration only (`deno task bench --server null`): a relay that speaks just enough of the
 * chat protocol for the bench (create chat, connect, accept, message → ack + echo + delivery)
 * and stores nothing, validates nothing. It shows what the load generator and the protocol's
 * frame count cost on this machine, apart from the real server's work.
 */
interface Chat {
  seq: number;
  client: WebSocket | null;
  op: WebSocket | null;
}

const chats = new Map<string, Chat>();
/** NULL_NO_ECHO=1 skips the sender's copy of its own message (to price one frame). */
const ECHO = Deno.env.get("NULL_NO_ECHO") !== "1";
const json = (v: unknown) => JSON.stringify(v);

function onClientFrame(chatId: string, raw: string): void {
  const chat = chats.get(chatId)!;
  const f = JSON.parse(raw);
  if (f.type !== "message") return;
  const seq = ++chat.seq;
  const p = f.payload;
  chat.client?.send(json({
    type: "ack",
    payload: {
      for: "message",
      chat_id: chatId,
      seq,
      duplicate: false,
      client_msg_id: p.client_msg_id,
    },
  }));
  const ev = json({
    type: "message",
    payload: {
      chat_id: chatId,
      seq,
      timestamp: new Date().toISOString(),
      sender_id: "client",
      sender_role: "client",
      message: p.text,
      client_msg_id: p.client_msg_id,
    },
  });
  if (ECHO) chat.client?.send(ev);
  chat.op?.send(ev);
}

function onStaffFrame(ws: WebSocket, raw: string): void {
  const f = JSON.parse(raw);
  if (f.type !== "accept_chat") return;
  const chatId = String(f.payload.chat_id);
  const chat = chats.get(chatId)!;
  chat.op = ws;
  const seq = ++chat.seq;
  ws.send(json({ type: "ack", payload: { for: "accept_chat", chat_id: chatId }, ref: f.ref }));
  const assigned = json({
    type: "chat_assigned",
    payload: { chat_id: chatId, seq, client_id: "client", operator_id: "op", role: "operator" },
  });
  ws.send(assigned);
  chat.client?.send(assigned);
}

let port = 0;
const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: () => {},
}, async (req): Promise<Response> => {
  const url = new URL(req.url);
  if (req.method === "POST" && url.pathname === "/api/v1/chat/chats") {
    await req.body?.cancel();
    const chatId = crypto.randomUUID();
    chats.set(chatId, { seq: 2, client: null, op: null });
    const token = `c1.${chatId}`;
    const ws_url: string = `ws://127.0.0.1:${port}/api/v1/chat/ws/chat?token=${token}` +
      `&chat_id=${chatId}`;
    return Response.json({ chat_id: chatId, client_id: "c", client_token: token, ws_url }, {
      status: 201,
    });
  }
  const { socket, response } = Deno.upgradeWebSocket(req);
  const chatId = url.searchParams.get("chat_id");
  socket.onopen = () => {
    socket.send(json({ type: "connected", payload: { chat_id: chatId } }));
    if (chatId) chats.get(chatId)!.client = socket;
  };
  socket.onmessage = (e) =>
    chatId ? onClientFrame(chatId, e.data as string) : onStaffFrame(socket, e.data as string);
  return response;
});
port = server.addr.port;
console.log(`Null relay listening on http://127.0.0.1:${port} (port ${port})`);
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
