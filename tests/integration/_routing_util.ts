/** Helpers for the routing integration tests (capacity, presence, offers, transfers, lawyers). */
import assert from "node:assert/strict";
import type { QueueSnapshot } from "../../actors/queue.ts";
import type { ActorSystem } from "../../src/runtime/system.ts";
import type { Principal, StaffRole } from "../../src/auth/principal.ts";
import type { CreatedChat, Frame, TestServer, WsClient } from "./_harness.ts";
import type { Sockets } from "./_util.ts";

/** An admin principal for `server.routing` calls (no REST admin endpoints needed). */
export const ADMIN: Principal = { id: "adm", role: "admin", scope: "staff", expiresAt: Infinity };

export const isFrame = (type: string, chatId?: string) => (f: Frame) =>
  f.type === type && (chatId === undefined || f.payload.chat_id === chatId);

export const isStatusOf = (operatorId: string, status: string) => (f: Frame) =>
  f.type === "operator_status" && f.payload.operator_id === operatorId &&
  f.payload.status === status;

/**
 * Connects a staff member and waits for `connected` and the `queue_snapshot` that ends the
 * connection's set-up (so no request of it is in flight when a test moves a manual clock).
 */
export async function connectStaff(
  server: TestServer,
  sockets: Sockets,
  id: string,
  role: StaffRole = "operator",
): Promise<WsClient> {
  return await openStaff(sockets, server.wsUrl(await server.staffToken(id, role)));
}

export async function openStaff(sockets: Sockets, url: string): Promise<WsClient> {
  const ws = await sockets.connect(url);
  // Frames are handled only once the connection is open (its chats followed): a ping's answer
  // says so for every role (lawyers get no queue_snapshot).
  assertPong(await ws.request("ping"));
  return ws;
}

/** Creates chats one after the other (so their queue order is their creation order). */
export async function createChats(
  server: TestServer,
  n: number,
  prefix = "client",
  between?: () => Promise<void>,
): Promise<CreatedChat[]> {
  const out: CreatedChat[] = [];
  for (let i = 1; i <= n; i++) {
    if (i > 1 && between) await between();
    out.push(await server.createChat(`${prefix}-${i}`));
  }
  return out;
}

export function assertAck(reply: Frame): Frame {
  assert.equal(reply.type, "ack", JSON.stringify(reply));
  return reply;
}

export function assertError(reply: Frame, code: string): Frame {
  assert.equal(reply.type, "error", JSON.stringify(reply));
  assert.equal(reply.payload.code, code, JSON.stringify(reply));
  return reply;
}

export const accept = (op: WsClient, chatId: string) =>
  op.request("accept_chat", { chat_id: chatId });

export const say = (who: WsClient, chatId: string, text: string) =>
  who.request("message", { chat_id: chatId, text });

export const waitingIds = (snap: QueueSnapshot) => snap.waiting.map((w) => w.chatId);

export const activeOf = (snap: QueueSnapshot, operatorId: string) =>
  Object.keys(snap.active).filter((id) => snap.active[id].operatorId === operatorId);

/**
 * Resolves once `check` holds. It is evaluated now and again after every commit of any actor
 * (event-driven, no polling); `timeoutMs` is only a guard.
 */
export function until(
  server: TestServer,
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  return untilCommitted([server.svc.system], check, what, timeoutMs);
}

/** {@link until} over several actor systems (cluster nodes): re-checked after a commit on any. */
export function untilCommitted(
  systems: readonly ActorSystem[],
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let running = false;
    let dirty = false;
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const stop of stops) stop();
      if (err) reject(err);
      else resolve();
    };
    const evaluate = async () => {
      if (running) return void (dirty = true);
      running = true;
      try {
        do {
          dirty = false;
          if (await check()) return finish();
        } while (dirty && !done);
      } catch (err) {
        finish(err as Error);
      } finally {
        running = false;
      }
    };
    const stops = systems.map((s) => s.onCommitted(() => void evaluate()));
    const timer = setTimeout(() => finish(new Error(`Timed out waiting until ${what}`)), timeoutMs);
    void evaluate();
  });
}

/** Resolves with the queue snapshot once `pred` holds for it. */
export async function untilQueue(
  server: TestServer,
  pred: (snap: QueueSnapshot) => boolean,
  what: string,
): Promise<QueueSnapshot> {
  let last: QueueSnapshot | null = null;
  await until(server, async () => pred(last = await server.svc.queueSnapshot()), what);
  return last!;
}

function assertPong(f: Frame): void {
  if (f.type !== "pong") throw new Error(`expected pong, got ${JSON.stringify(f)}`);
}
