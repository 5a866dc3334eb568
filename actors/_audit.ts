/**
 * Audit records: who did what, when and why. They are written in the same KV atomic as the event
 * that caused them (an entity's `writes`), indexed by chat, by operator and by time.
 */
import type { Envelope, KvWrite } from "../src/runtime/entity.ts";

export interface AuditRecord {
  readonly at: number;
  readonly action: string;
  readonly actor: { readonly id: string; readonly role: string };
  readonly chat_id?: string;
  readonly operator_ids: readonly string[];
  readonly reason: string;
  /** Where the event is stored: `<type>/<id>#<seq>`. */
  readonly source: string;
}

export const AUDIT_PREFIX = ["audit"] as const;

/** The records of one event as KV writes: by time, by chat and by each operator. */
export function auditWrites(record: AuditRecord): KvWrite[] {
  const id = record.source;
  const writes: KvWrite[] = [{
    op: "set",
    key: [...AUDIT_PREFIX, "all", record.at, id],
    value: record,
  }];
  if (record.chat_id) {
    writes.push({
      op: "set",
      key: [...AUDIT_PREFIX, "chat", record.chat_id, record.at, id],
      value: record,
    });
  }
  for (const op of new Set(record.operator_ids)) {
    writes.push({ op: "set", key: [...AUDIT_PREFIX, "op", op, record.at, id], value: record });
  }
  return writes;
}

export function source(type: string, id: string, env: Envelope<unknown>): string {
  return `${type}/${id}#${env.seq}`;
}
