/** State, commands and events of the queue actor (see `queue.ts` and docs/ROUTING.md). */
import type { StaffRole } from "../src/auth/principal.ts";
import type { Caller } from "./_common.ts";

export type OperatorStatus = "online" | "away" | "busy" | "offline";
export type RoutingMode = "manual" | "auto";

export interface RoutingConfig {
  readonly mode: RoutingMode;
  /** Auto mode: how long an operator has to accept an offered chat. */
  readonly acceptTimeoutMs: number;
  /** Open chats an operator may hold unless their own capacity says otherwise. */
  readonly defaultCapacity: number;
  /** Presence lease: how long a disconnected operator keeps their chats. */
  readonly graceMs: number;
}

export const DEFAULT_ROUTING: RoutingConfig = {
  mode: "manual",
  acceptTimeoutMs: 30_000,
  defaultCapacity: 5,
  graceMs: 30_000,
};

export interface Offer {
  readonly operatorId: string;
  readonly until: number;
}

export interface WaitingChat {
  readonly chatId: string;
  readonly clientId: string;
  readonly priority: number;
  /** When the chat first joined the queue; kept when it comes back. */
  readonly enqueuedAt: number;
  /** Came back from an operator: goes ahead of new chats of the same priority. */
  readonly requeued: boolean;
  /** Auto mode: the operator it is offered to, until when. */
  readonly offer: Offer | null;
  /** Auto mode: operators whose offer for this chat expired. */
  readonly declined: readonly string[];
}

export interface ActiveChat {
  readonly operatorId: string;
  readonly clientId: string;
  readonly assignedAt: number;
  readonly enqueuedAt: number;
  readonly priority: number;
}

export interface OperatorSlot {
  readonly role: StaffRole;
  readonly status: OperatorStatus;
  /** Per-operator capacity override; null uses the queue's default. */
  readonly capacity: number | null;
  readonly connected: boolean;
  /** When the last connection dropped (presence lease running), else null. */
  readonly lostAt: number | null;
  /** Active chats plus open offers. */
  readonly load: number;
  /** Last time a chat was offered or assigned to them (or they came online). */
  readonly idleSince: number;
}

export interface QueueState {
  readonly name: string;
  readonly config: RoutingConfig;
  /** Priority first (higher first), then requeued chats, then oldest first. */
  readonly waiting: readonly WaitingChat[];
  readonly active: Readonly<Record<string, ActiveChat>>;
  readonly operators: Readonly<Record<string, OperatorSlot>>;
  readonly servedCount: number;
  readonly waitSumMs: number;
  /** The last {@link RECENT_WAITS_LIMIT} waits in ms, oldest first (for the p90). */
  readonly recentWaits: readonly number[];
  /** Times of the last {@link RECENT_CLAIMS_LIMIT} claims (for the service rate). */
  readonly recentClaims: readonly number[];
}

export const RECENT_WAITS_LIMIT = 1000;
export const RECENT_CLAIMS_LIMIT = 20;

export type QueueCommand =
  | { type: "configure"; config: RoutingConfig }
  | { type: "enqueue"; chatId: string; clientId: string; priority: number; enqueuedAt: number }
  | { type: "claim"; chatId: string; operatorId: string }
  | { type: "release"; chatId: string; reason: string }
  | { type: "offer_expired"; chatId: string; operatorId: string; until: number }
  /** `to: null` sends the chat back to the queue. */
  | { type: "transfer"; chatId: string; to: string | null; reason: string; by: Caller }
  | { type: "set_status"; operatorId: string; status: OperatorStatus; by: Caller }
  | { type: "set_capacity"; operatorId: string; capacity: number | null; by: Caller }
  | { type: "set_priority"; chatId: string; priority: number; by: Caller }
  | { type: "operator_online"; operatorId: string; role: StaffRole }
  | { type: "operator_lost"; operatorId: string }
  /** Cluster: nodes changed; every connected operator is lost until a node re-announces them. */
  | { type: "audit_presence" }
  | { type: "grace_expired"; operatorId: string; lostAt: number }
  | { type: "snapshot" }
  | { type: "activeFor"; operatorId: string };

export interface QueueSnapshot {
  waiting: WaitingChat[];
  active: Record<string, ActiveChat>;
  operators: Record<string, OperatorSlot>;
  config: RoutingConfig;
  servedCount: number;
  waitSumMs: number;
  recentWaits: number[];
  recentClaims: number[];
}

/** Reply of each command, by command type. */
export interface QueueReplies {
  configure: { config: RoutingConfig };
  /** 1-based place in the queue; 0 when the chat is already taken. */
  enqueue: { position: number };
  claim: { chatId: string; operatorId: string };
  release: { released: boolean };
  offer_expired: { expired: boolean };
  transfer: { chatId: string; to: string | null };
  set_status: { operatorId: string; status: OperatorStatus };
  set_capacity: { operatorId: string; capacity: number | null };
  set_priority: { chatId: string; priority: number };
  operator_online: { status: OperatorStatus };
  operator_lost: { lostAt: number | null };
  audit_presence: { lost: number };
  grace_expired: { expired: boolean };
  snapshot: QueueSnapshot;
  activeFor: string[];
}

export type QueueReply = QueueReplies[keyof QueueReplies];

interface By {
  readonly byId: string;
  readonly byRole: Caller["role"];
}

export type QueueEvent =
  | { type: "configured"; config: RoutingConfig; at: number }
  | { type: "enqueued"; chatId: string; clientId: string; priority: number; enqueuedAt: number }
  | { type: "offered"; chatId: string; operatorId: string; until: number; at: number }
  | { type: "offer_expired"; chatId: string; operatorId: string; at: number }
  | { type: "claimed"; chatId: string; operatorId: string; waitedMs: number; at: number }
  /** `from`: where the chat was, so views know whether it left the waiting list. */
  | { type: "released"; chatId: string; reason: string; from: "waiting" | "active" }
  | (
    & { type: "transferred"; chatId: string; from: string; to: string; reason: string; at: number }
    & By
  )
  | ({ type: "requeued"; chatId: string; from: string; reason: string; at: number } & By)
  | ({ type: "status_changed"; operatorId: string; status: OperatorStatus; at: number } & By)
  | ({ type: "capacity_changed"; operatorId: string; capacity: number | null; at: number } & By)
  | ({ type: "priority_changed"; chatId: string; priority: number; at: number } & By)
  | { type: "operator_connected"; operatorId: string; role: StaffRole; at: number }
  /** An admin named an operator who never connected: known, offline, not present. */
  | { type: "operator_registered"; operatorId: string; role: StaffRole; at: number }
  | { type: "operator_lost"; operatorId: string; at: number }
  | { type: "operator_expired"; operatorId: string; at: number };
