/**
 * What app code uses from the edge (edge.ts): `upgradeWebSocket`, the drop-in replacement for
 * `Deno.upgradeWebSocket`, and `clientAddrOf`, the client's address as the edge saw it.
 *
 * Hand-written because the edge serves WebSocket upgrades itself with our own RFC 6455 socket
 * (websocket.ts): Deno's WebSocket closes without a close frame on invalid UTF-8 and buffers
 * huge binary frames before the app can refuse them. A request the edge hands to its handler is
 * remembered here; upgrading it makes a `ServerWebSocket` and a sentinel `Response` that the
 * edge recognises when the handler returns it, and answers with the 101 itself. Any other
 * request (one Deno.serve received, e.g. an upgrade on a reused keep-alive connection) is
 * upgraded by Deno as before.
 */
import type { Clock } from "../../runtime/clock.ts";
import { checkUpgrade, ServerWebSocket } from "./websocket.ts";

/**
 * Set by the edge on every request it passes on (a client's own is removed first), so the app
 * reads the client address from it; see {@link clientAddrOf}.
 */
export const CLIENT_ADDR_HEADER = "x-edge-client-addr";

/**
 * The client's address: the edge's header, else the TCP peer Deno.serve saw, else "unknown".
 * Only trustworthy behind the edge (which always sets the header); Deno.serve listening on TCP
 * for the public would take a client's own header.
 */
export function clientAddrOf(req: Request, info?: { remoteAddr: Deno.Addr }): string {
  const header = req.headers.get(CLIENT_ADDR_HEADER);
  if (header) return header;
  const addr = info?.remoteAddr;
  return addr && "hostname" in addr && addr.hostname ? addr.hostname : "unknown";
}

export interface EdgeUpgradeOptions {
  /** Silent this long → ping; no answer another period → close (Deno's `idleTimeout`). */
  readonly idleTimeoutS: number;
  /** Largest message; more closes with 1009 (edge sockets only). */
  readonly maxMessageBytes: number;
  /** Binary messages are delivered, else refused with 1003 (edge sockets only). */
  readonly allowBinary?: boolean;
}

/** A WebSocket upgrade the edge completes: write the 101, then attach the socket. */
export interface EdgeUpgrade {
  readonly socket: ServerWebSocket;
  readonly key: string;
}

/** A request the edge handed to its handler, and the sockets made for it. */
export interface EdgeRequest {
  readonly clock: Clock;
  readonly sockets: ServerWebSocket[];
  answered: boolean;
}

const edgeRequests = new WeakMap<Request, EdgeRequest>();
const sentinels = new WeakMap<Response, EdgeUpgrade>();

/** The edge: `req` goes to the handler; sockets made for it run on `clock`. */
export function edgeRequest(req: Request, clock: Clock): EdgeRequest {
  const ctx: EdgeRequest = { clock, sockets: [], answered: false };
  edgeRequests.set(req, ctx);
  return ctx;
}

/**
 * The edge: the handler answered `res` (null: the connection is gone). Returns the upgrade to
 * complete when `res` is the sentinel of a socket made for this request; aborts every other one.
 */
export function settleEdgeRequest(ctx: EdgeRequest, res: Response | null): EdgeUpgrade | null {
  ctx.answered = true;
  const up = res ? sentinels.get(res) : undefined;
  const chosen = up && ctx.sockets.includes(up.socket) ? up : null;
  for (const socket of ctx.sockets) if (socket !== chosen?.socket) socket.abort();
  return chosen;
}

/**
 * Like `Deno.upgradeWebSocket`: throws a `TypeError` on a request that is no valid upgrade;
 * return `response` from the handler. The socket is CONNECTING until the 101 is written.
 */
export function upgradeWebSocket(
  req: Request,
  opts: EdgeUpgradeOptions,
): { socket: ServerWebSocket | WebSocket; response: Response } {
  const ctx = edgeRequests.get(req);
  if (!ctx) {
    // Deno's own upgrade (an upgrade on a reused connection) gets the same checks as ours.
    const check = checkUpgrade(req.method, req.headers);
    if (!check.ok) throw new TypeError(check.message);
    return Deno.upgradeWebSocket(req, { idleTimeout: opts.idleTimeoutS });
  }
  if (ctx.answered) throw new TypeError("The request was already answered");
  if (ctx.sockets.length > 0) throw new TypeError("The request was already upgraded");
  const check = checkUpgrade(req.method, req.headers);
  if (!check.ok) throw new TypeError(check.message);
  const socket = new ServerWebSocket({
    maxMessageBytes: opts.maxMessageBytes,
    allowBinary: opts.allowBinary,
    idleTimeoutS: opts.idleTimeoutS,
    clock: ctx.clock,
  });
  ctx.sockets.push(socket);
  const response = new Response(null, { status: 200 });
  sentinels.set(response, { socket, key: check.key });
  return { socket, response };
}
