/** State, commands and events of the queue actor (see `queue.ts` and docs/ROUTING.md). */
import type { StaffRole } from "../src/auth/principal.ts";
import type { Caller } from "./_common.ts";
import type { SortedMap } from "./_sorted_map.ts";
import type { ActiveEntry, FreeKey, RecentWindow, WaitingEntry } from "./_queue_state.ts";

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
  /** Came back from an operator: the queue seq of that requeue ({@link ActiveChat.decision}). */
  readonly decision?: number;
}

export interface ActiveChat {
  readonly operatorId: string;
  readonly clientId: string;
  readonly assignedAt: number;
  readonly enqueuedAt: number;
  readonly priority: number;
  /**
   * The queue seq of the claim or transfer that gave the chat to `operatorId` (absent in state
   * stored before it). Every command to the session about an ownership decision carries that
   * decision's seq, so the session can tell a late or repeated command from a newer decision
   * (`actors/session.ts` "Ownership decisions").
   */
  readonly decision?: number;
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

/**
 * The queue's state: indexed by persistent sorted maps (see `_queue_state.ts`, which also has the
 * accessors everything outside the actor reads it with). Not JSON: snapshots go through
 * `_queue_codec.ts`, whose stored shape is {@link QueueSnapshot}.
 */
export interface QueueState {
  readonly name: string;
  readonly config: RoutingConfig;
  /** Waiting chats by chat id. */
  readonly waitingById: SortedMap<string, WaitingEntry>;
  /** Waiting chats in service order: priority (higher first), then requeued, then oldest. */
  readonly waitingOrder: SortedMap<WaitingEntry, string>;
  /** Waiting chats without an open offer, in service order. */
  readonly unoffered: SortedMap<WaitingEntry, string>;
  /** Open offers by (operator id, chat id). */
  readonly offers: SortedMap<readonly [string, string], true>;
  /** Taken chats by chat id. */
  readonly active: SortedMap<string, ActiveEntry>;
  /** Taken chats in the order they were taken (`since` → chat id). */
  readonly activeOrder: SortedMap<number, string>;
  /** Taken chats by (operator id, `since`) → chat id. */
  readonly activeByOperator: SortedMap<readonly [string, number], string>;
  /** The roster by operator id. */
  readonly operators: SortedMap<string, OperatorSlot>;
  /** Operators an offer may go to now, best first (fewest open chats, longest idle, id). */
  readonly free: SortedMap<FreeKey, true>;
  /** The next `order` of a waiting chat or `since` of a taken one (both only grow). */
  readonly counter: number;
  readonly servedCount: number;
  readonly waitSumMs: number;
  /** The last {@link RECENT_WAITS_LIMIT} waits in ms, oldest first (for the p90). */
  readonly recentWaits: RecentWindow;
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
  /** Read-only, O(n): the whole queue as plain JSON (tests and diagnostics). */
  | { type: "snapshot" }
  | { type: "activeFor"; operatorId: string }
  /**
   * Read-only: a page of the waiting list and one of the taken chats, with the counts; with
   * `heldBy`, the taken chats are that operator's (all of them).
   */
  | {
    type: "page";
    offset: number;
    limit: number;
    activeOffset?: number;
    activeLimit?: number;
    heldBy?: string;
  }
  /** Read-only: counts, waits and claims (statistics). */
  | { type: "stats" }
  /** Read-only: the roster (O(operators)). */
  | { type: "roster" }
  /** Read-only: one chat's place in the queue. */
  | { type: "position"; chatId: string }
  /** Read-only: the places of several chats (0 for those not waiting). */
  | { type: "positions"; chatIds: string[] }
  /**
   * Read-only: the waiting chats offered to one operator (auto routing), in service order. What a
   * connecting operator's node asks for, instead of the whole queue (O(n), over a MiB at 10,000
   * waiting: more than one Kafka record carries).
   */
  | { type: "offersFor"; operatorId: string }
  /** Read-only: which of these chats the queue holds (waiting or taken). */
  | { type: "holds"; chatIds: string[] };

/**
 * The queue as plain JSON, waiting chats in service order, taken chats in the order they were
 * taken: what a snapshot stores (the shape every version has stored) and what the `snapshot`
 * command answers (O(n): tests and diagnostics; services read pages, see `page`).
 */
export interface QueueSnapshot {
  name?: string;
  waiting: WaitingChat[];
  active: Record<string, ActiveChat>;
  operators: Record<string, OperatorSlot>;
  config: RoutingConfig;
  servedCount: number;
  waitSumMs: number;
  recentWaits: number[];
  recentClaims: number[];
}

/** A page of the waiting list (from `offset`, in service order) and of the taken chats. */
export interface QueuePage {
  config: RoutingConfig;
  waitingTotal: number;
  activeTotal: number;
  offset: number;
  waiting: WaitingChat[];
  activeOffset: number;
  /** In the order they were taken. */
  active: Array<ActiveChat & { chatId: string }>;
  recentClaims: number[];
}

export interface QueueStats {
  waiting: number;
  active: number;
  servedCount: number;
  waitSumMs: number;
  recentWaits: number[];
  recentClaims: number[];
  /** Some operator could be offered a chat now. */
  operatorFree: boolean;
}

export interface QueueRoster {
  config: RoutingConfig;
  operators: Record<string, OperatorSlot>;
}

/** Reply of each command, by command type. */
export interface QueueReplies {
  configure: { config: RoutingConfig };
  /** 1-based place in the queue; 0 when the chat is already taken. */
  enqueue: { position: number };
  /** `decision`: the claim's queue seq, which the caller's own `assign` to the chat carries. */
  claim: { chatId: string; operatorId: string; decision?: number };
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
  page: QueuePage;
  stats: QueueStats;
  roster: QueueRoster;
  position: { position: number; recentClaims: number[] };
  positions: { positions: number[]; recentClaims: number[] };
  offersFor: WaitingChat[];
  holds: string[];
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
  /** `decision` (claimed, transferred, requeued): the event's own seq, as the state keeps it. */
  | {
    type: "claimed";
    chatId: string;
    operatorId: string;
    waitedMs: number;
    at: number;
    decision?: number;
  }
  /** `from`: where the chat was, so views know whether it left the waiting list. */
  | { type: "released"; chatId: string; reason: string; from: "waiting" | "active" }
  | (
    & {
      type: "transferred";
      chatId: string;
      from: string;
      to: string;
      reason: string;
      at: number;
      decision?: number;
    }
    & By
  )
  | (
    & {
      type: "requeued";
      chatId: string;
      from: string;
      reason: string;
      at: number;
      decision?: number;
    }
    & By
  )
  | ({ type: "status_changed"; operatorId: string; status: OperatorStatus; at: number } & By)
  | ({ type: "capacity_changed"; operatorId: string; capacity: number | null; at: number } & By)
  | ({ type: "priority_changed"; chatId: string; priority: number; at: number } & By)
  | { type: "operator_connected"; operatorId: string; role: StaffRole; at: number }
  /** An admin named an operator who never connected: known, offline, not present. */
  | { type: "operator_registered"; operatorId: string; role: StaffRole; at: number }
  | { type: "operator_lost"; operatorId: string; at: number }
  | { type: "operator_expired"; operatorId: string; at: number };
