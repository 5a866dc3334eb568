/** Helpers shared by the integration tests, on top of `_harness.ts`. */
import assert from "node:assert/strict";
import { type CreatedChat, type Frame, type TestServer, WsClient } from "./_harness.ts";
import { applyDelta, type HeadEntry } from "../../src/server/_queue_view_diff.ts";

export interface HistoryPage {
  chat_id: string;
  events: Frame[];
  next_after_seq: number;
  has_more: boolean;
}

/** GET the chat's history; returns the status and the parsed JSON body. */
export async function fetchHistory(
  server: TestServer,
  chatId: string,
  token: string | undefined,
  query: Record<string, string | number> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const u = new URL(`/api/v1/chat/chats/${chatId}/history`, server.url);
  if (token !== undefined) u.searchParams.set("token", token);
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, String(v));
  const res = await fetch(u);
  return { status: res.status, body: await res.json() };
}

/** Every stored event of a chat (one page of up to 500), asserting the request succeeded. */
export async function allEvents(server: TestServer, chatId: string, token: string) {
  const { status, body } = await fetchHistory(server, chatId, token, { limit: 500 });
  assert.equal(status, 200, JSON.stringify(body));
  return (body as unknown as HistoryPage).events;
}

/**
 * Every stored event of a chat, over as many pages as it takes, from a server at `baseUrl` (an
 * in-process one or a child process); asserts each page was served.
 */
export async function historyEvents<E = Frame>(
  baseUrl: string,
  chatId: string,
  token: string,
): Promise<E[]> {
  const out: E[] = [];
  let after = 0;
  for (;;) {
    const res = await fetch(
      `${baseUrl}/api/v1/chat/chats/${chatId}/history?after_seq=${after}&limit=500&token=${token}`,
    );
    assert.equal(res.status, 200);
    const page = await res.json();
    out.push(...page.events);
    if (!page.has_more) return out;
    after = page.next_after_seq;
  }
}

/** [from, from+1, …, to]. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

/** Closes every given client (those already closed are skipped). */
export async function closeAll(...clients: Array<WsClient | null | undefined>): Promise<void> {
  await Promise.all(clients.map((c) => c?.close()));
}

export interface AssignedChat {
  chat: CreatedChat;
  client: WsClient;
  op: WsClient;
  opToken: string;
  /** Seq of the `chat_assigned` event (the last stored event so far). */
  assignedSeq: number;
}

/**
 * A chat taken by operator `opId`, with a connected client and operator (closed by `sockets`),
 * both having received `chat_assigned`.
 */
export async function assignedChat(
  server: TestServer,
  sockets: Sockets,
  opId = "op-1",
  clientId = "client-1",
): Promise<AssignedChat> {
  const opToken = await server.staffToken(opId);
  const op = await sockets.connect(server.wsUrl(opToken));
  const chat = await server.createChat(clientId);
  const client = await sockets.connect(chat.ws_url);
  const ack = await op.request("accept_chat", { chat_id: chat.chat_id });
  assert.equal(ack.type, "ack", JSON.stringify(ack));
  const isAssigned = (f: Frame) => f.type === "chat_assigned" && f.payload.chat_id === chat.chat_id;
  const assigned = await client.next(isAssigned);
  await op.next(isAssigned);
  return { chat, client, op, opToken, assignedSeq: assigned.payload.seq as number };
}

/** Sends `n` messages from `sender` (one after the other) and returns their acked seqs. */
export async function sendMessages(
  sender: WsClient,
  n: number,
  payload: Record<string, unknown> = {},
  prefix = "msg",
): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 1; i <= n; i++) {
    const ack = await sender.request("message", { ...payload, text: `${prefix} ${i}` });
    assert.equal(ack.type, "ack", JSON.stringify(ack));
    seqs.push(ack.payload.seq as number);
  }
  return seqs;
}

/** Session-event frames a client received for a chat after frame index `from`. */
export function eventsAfter(client: WsClient, chatId: string, from: number): Frame[] {
  return client.frames.slice(from).filter((f) =>
    f.payload.chat_id === chatId && typeof f.payload.seq === "number" && f.type !== "ack"
  );
}

/** Opens clients and closes every one of them on dispose (`await using sockets = new Sockets()`). */
export class Sockets {
  readonly #all: WsClient[] = [];

  /** Opens and waits for `connected`. */
  async connect(url: string): Promise<WsClient> {
    return this.add(await WsClient.connect(url));
  }

  /** Opens without waiting for `connected` (for refused connections). */
  async open(url: string): Promise<WsClient> {
    return this.add(await WsClient.open(url));
  }

  add(client: WsClient): WsClient {
    this.#all.push(client);
    return client;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await closeAll(...this.#all);
  }
}

/**
 * Resolves when an actor `type`/`id` commits an event of type `eventType`; rejects after
 * `timeoutMs` (a guard, not a delay). Call it before the action that should cause the commit.
 */
export function nextCommit(
  server: TestServer,
  type: string,
  id: string,
  eventType: string,
  timeoutMs = 5_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const stop = server.svc.system.onCommitted((addr, envs) => {
      if (addr.type !== type || addr.id !== id) return;
      if (!envs.some((e) => (e.event as { type?: string }).type === eventType)) return;
      clearTimeout(timer);
      stop();
      resolve();
    });
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`No ${eventType} event from ${type} ${id} within ${timeoutMs} ms`));
    }, timeoutMs);
  });
}

/**
 * Has the operator send large messages, twenty in flight at a time, until the server has dropped
 * every client connection (a stalled reader) or `batches` ran out. Every message must be acked.
 * Returns whether the clients were dropped. Bounded by a count, not by time.
 */
export async function floodUntilClientsDropped(
  server: TestServer,
  op: WsClient,
  chatId: string,
  text: string,
  batches = 250,
): Promise<boolean> {
  for (let batch = 0; batch < batches; batch++) {
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => op.request("message", { chat_id: chatId, text })),
    );
    for (const r of replies) assert.equal(r.type, "ack");
    if (server.svc.hub.countByRole().client === 0) return true;
  }
  return false;
}

/** A staff connection's queue view, rebuilt from its `queue_snapshot` and `queue_delta` frames. */
export function queueViewOf(c: WsClient) {
  let head: HeadEntry[] = [];
  let total = 0;
  const removed = new Map<string, { reason: string; operator_id?: string }>();
  for (const f of c.frames) {
    if (f.type === "queue_snapshot") {
      head = f.payload.chats as HeadEntry[];
      total = f.payload.total as number;
    } else if (f.type === "queue_delta") {
      const d = f.payload as unknown as Parameters<typeof applyDelta>[1] & { total: number };
      head = applyDelta(head, d);
      total = d.total;
      for (const r of d.removed as { chat_id: string; reason: string }[]) removed.set(r.chat_id, r);
    }
  }
  return { ids: head.map((e) => e.chat_id), head, total, removed };
}

/** Waits until the connection's queue view passes `test` (each new view frame is a chance). */
export async function untilQueueView(
  c: WsClient,
  test: (v: ReturnType<typeof queueViewOf>) => boolean,
): Promise<ReturnType<typeof queueViewOf>> {
  for (;;) {
    const v = queueViewOf(c);
    if (test(v)) return v;
    const from = c.frames.length;
    await c.next((f) => f.type === "queue_delta" || f.type === "queue_snapshot", { from });
  }
}
