/** Which queue events are routing decisions worth an audit record, and how they read. */
import type { Envelope, KvWrite } from "../src/runtime/entity.ts";
import { type AuditRecord, auditWrites, source } from "./_audit.ts";
import { activeOf, slotOf } from "./_queue_routing.ts";
import type { QueueEvent, QueueState } from "./_queue_types.ts";

export function queueAuditWrites(
  before: QueueState,
  env: Envelope<QueueEvent>,
  after: QueueState,
): KvWrite[] {
  const record = describe(before, env.event, after);
  if (!record) return [];
  return auditWrites({ at: env.at, source: source("queue", after.name, env), ...record });
}

type Described = Omit<AuditRecord, "at" | "source">;

function describe(before: QueueState, e: QueueEvent, after: QueueState): Described | null {
  const system = { id: `queue:${after.name}`, role: "system" };
  const secs = (ms: number) => `${Math.round(ms / 1000)} s`;
  switch (e.type) {
    case "offered": {
      const slot = slotOf(before, e.operatorId);
      return {
        action: "offered",
        actor: system,
        chat_id: e.chatId,
        operator_ids: [e.operatorId],
        reason: `auto-assigned: least loaded (${slot?.load ?? 0} open chats), accept within ${
          secs(after.config.acceptTimeoutMs)
        }`,
      };
    }
    case "offer_expired":
      return {
        action: "offer_expired",
        actor: system,
        chat_id: e.chatId,
        operator_ids: [e.operatorId],
        reason: "offer not accepted in time or withdrawn",
      };
    case "claimed":
      return {
        action: "assigned",
        actor: { id: e.operatorId, role: slotOf(before, e.operatorId)?.role ?? "operator" },
        chat_id: e.chatId,
        operator_ids: [e.operatorId],
        reason: `accepted after waiting ${secs(e.waitedMs)}`,
      };
    case "transferred":
      return {
        action: "transferred",
        actor: { id: e.byId, role: e.byRole },
        chat_id: e.chatId,
        operator_ids: [e.from, e.to],
        reason: e.reason,
      };
    case "requeued":
      return {
        action: "requeued",
        actor: { id: e.byId, role: e.byRole },
        chat_id: e.chatId,
        operator_ids: [e.from],
        reason: e.reason,
      };
    case "status_changed":
      return {
        action: "status_changed",
        actor: { id: e.byId, role: e.byRole },
        operator_ids: [e.operatorId],
        reason: `status set to ${e.status}`,
      };
    case "capacity_changed":
      return {
        action: "capacity_changed",
        actor: { id: e.byId, role: e.byRole },
        operator_ids: [e.operatorId],
        reason: e.capacity === null
          ? "capacity reset to the default"
          : `capacity set to ${e.capacity}`,
      };
    case "priority_changed":
      return {
        action: "priority_changed",
        actor: { id: e.byId, role: e.byRole },
        chat_id: e.chatId,
        operator_ids: [],
        reason: `priority set to ${e.priority}`,
      };
    case "operator_lost":
      return {
        action: "presence_lost",
        actor: system,
        operator_ids: [e.operatorId],
        reason: `last connection dropped; ${secs(after.config.graceMs)} grace period started`,
      };
    case "operator_expired":
      return {
        action: "presence_expired",
        actor: system,
        operator_ids: [e.operatorId],
        reason: `offline after ${secs(after.config.graceMs)} grace`,
      };
    case "released":
      return {
        action: "released",
        actor: system,
        chat_id: e.chatId,
        operator_ids: e.from === "active" ? [activeOf(before, e.chatId)!.operatorId] : [],
        reason: e.reason,
      };
    case "configured":
      return {
        action: "configured",
        actor: system,
        operator_ids: [],
        reason: `routing ${e.config.mode}, capacity ${e.config.defaultCapacity}, ` +
          `accept ${secs(e.config.acceptTimeoutMs)}, grace ${secs(e.config.graceMs)}`,
      };
    case "enqueued":
    case "operator_connected":
    case "operator_registered":
      return null;
  }
}
