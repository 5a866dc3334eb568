/**
 * The console's alert rules over its store (web/console/alert_rules.js, store.js), without a
 * browser: a chat transferred to me loads its history from 0 after the live transfer event, and
 * the recent messages in that history used to alert as if new whenever they arrived after the
 * transfer (which depended on timing: the cause of a flaky console_alerts_test).
 */
import assert from "node:assert/strict";

// Browser modules (checked against the DOM's types, which Deno's checker has not): loaded by URL.
const web = (path: string) => import(new URL(`../../web/${path}`, import.meta.url).href);
const { Store } = await web("console/store.js");
const { alertFor } = await web("console/alert_rules.js");

type Frame = { type: string; payload: Record<string, unknown> };

function console_(me = "op-1") {
  const store = new Store();
  const alerts: Array<{ kind: string; body?: unknown }> = [];
  const apply = (f: Frame) => {
    store.apply(f);
    alertFor(store, f, null, (kind: string, what: { body?: unknown }) => {
      alerts.push({ kind, body: what.body });
    });
  };
  apply({ type: "connected", payload: { user_id: me, role: "operator", open_chats: [] } });
  return { apply, alerts };
}

const now = () => new Date().toISOString();
const message = (seq: number, text: string): Frame => ({
  type: "message",
  payload: {
    chat_id: "c1",
    seq,
    sender_id: "v-1",
    sender_role: "client",
    message: text,
    timestamp: now(),
  },
});
const transferToMe: Frame = {
  type: "chat_transferred",
  payload: {
    chat_id: "c1",
    seq: 4,
    from_operator_id: "op-2",
    to_operator_id: "op-1",
    reason: "Billing is Olga's",
    timestamp: now(),
  },
};

Deno.test("alerts: a chat's history loaded after the transfer to me stays quiet", () => {
  const { apply, alerts } = console_();
  apply(transferToMe);
  // The history from 0 follows the live transfer: a recent message among it.
  apply({
    type: "chat_created",
    payload: { chat_id: "c1", seq: 1, client_id: "v-1", timestamp: now() },
  });
  apply(message(2, "Billing question"));
  apply({
    type: "chat_assigned",
    payload: { chat_id: "c1", seq: 3, operator_id: "op-2", timestamp: now() },
  });
  // Then the client writes: that one alerts.
  apply(message(5, "My card was charged twice"));
  assert.deepEqual(alerts, [
    { kind: "transfer", body: "Billing is Olga's" },
    { kind: "message", body: "My card was charged twice" },
  ]);
});

Deno.test("alerts: messages of my chat missed while away (replayed as new) still alert", () => {
  const { apply, alerts } = console_();
  apply(transferToMe);
  apply(message(5, "Hello?"));
  apply(message(6, "Anyone?"));
  assert.deepEqual(alerts.map((a) => a.body), ["Billing is Olga's", "Hello?", "Anyone?"]);
});
