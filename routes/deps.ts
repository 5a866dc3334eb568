/** What the route modules need; built once by the server. */
import type { Authenticator } from "../src/auth/mod.ts";
import type { ClusterNode } from "../src/cluster/node.ts";
import type { Config } from "../src/config.ts";
import type { Integration } from "../src/integrations/mod.ts";
import type { Logger } from "../src/log.ts";
import type { ChatService } from "../src/server/chat_service.ts";
import type { HandlerOptions } from "../src/server/connection_handler.ts";
import type { RoutingService } from "../src/server/routing_service.ts";
import type { AddressLimits } from "../src/server/address_limits.ts";
import type { Visitors } from "../src/server/visitors.ts";
import type { EngineMetrics } from "../src/server/metrics.ts";

export interface RouteDeps {
  readonly config: Config;
  readonly auth: Authenticator;
  readonly svc: ChatService;
  readonly routing: RoutingService;
  /** Who a new chat is for (visitor tokens, identity verification), and visitor profiles. */
  readonly visitors: Visitors;
  /** Rate limits of anonymous creation (new chats and visitors), per address and in all. */
  readonly creations: AddressLimits;
  /** Shared by every transport's connection handlers. */
  readonly handlerOptions: HandlerOptions;
  readonly log: Logger;
  readonly ready: () => Promise<boolean>;
  /** Cluster mode only: this node (its ownership, registry and counters); null on one node. */
  readonly cluster: ClusterNode | null;
  /** The (shared) KV: cluster ownership and heartbeat records are read from it. */
  readonly kv: Deno.Kv;
  /** Started integrations; each may add REST routes. */
  readonly integrations: readonly Integration[];
  /** This server's metrics registry (`/metrics`). */
  readonly metrics: EngineMetrics;
}
