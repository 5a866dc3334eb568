/**
 * The recent-message window of a session (actors/_recent.ts): retry lookups through the block
 * indexes, also when two senders used the same client-made id in one block.
 */
import assert from "node:assert/strict";
import {
  appendRecent,
  BLOCK,
  droppedRecent,
  findRecent,
  type RecentBlocks,
  recentEntry,
  recentList,
} from "../../actors/_recent.ts";

const client = { key: "c:u1", id: "u1" };
const staff = { key: "s:u1", id: "u1" }; // the same bare id, another kind

function window(n: number, idOf: (i: number) => string | undefined): RecentBlocks {
  let w: RecentBlocks = [];
  for (let i = 1; i <= n; i++) {
    const who = i % 2 ? client : staff;
    w = appendRecent(w, recentEntry(w, i, who.id, who.key, idOf(i)), 1000);
  }
  return w;
}

Deno.test("recent window: retries are found in full and open blocks, by sender", () => {
  const w = window(3 * BLOCK + 5, (i) => `m${i}`);
  for (const i of [1, 2, BLOCK, BLOCK + 1, 3 * BLOCK + 4, 3 * BLOCK + 5]) {
    const who = i % 2 ? client : staff;
    const other = i % 2 ? staff : client;
    assert.equal(findRecent(w, who, `m${i}`), i, `m${i}`);
    assert.equal(findRecent(w, other, `m${i}`), undefined, `m${i} by the other sender`);
  }
  assert.equal(findRecent(w, client, "nope"), undefined);
});

Deno.test("recent window: one id used by two senders in one block is told apart", () => {
  // Messages 1 and 2 (client, staff) both use "same"; the block is full, so the index is used.
  const w = window(2 * BLOCK, (i) => (i <= 2 ? "same" : `m${i}`));
  assert.equal(findRecent(w, client, "same"), 1);
  assert.equal(findRecent(w, staff, "same"), 2);
  // Entries without an id are never found, and keep no id field.
  const bare = window(3, () => undefined);
  assert.deepEqual(recentList(bare).map((m) => Object.keys(m)), [
    ["seq", "senderId", "by"],
    ["seq", "senderId", "by"],
    ["seq", "senderId", "by"],
  ]);
});

Deno.test("droppedRecent names exactly the entries a window let go, once each", () => {
  const limit = 3 * BLOCK;
  let w: RecentBlocks = [];
  const dropped: number[] = [];
  for (let seq = 1; seq <= 10 * BLOCK + 7; seq++) {
    const next = appendRecent(
      w,
      { seq, senderId: "u1", by: "c:u1", clientMsgId: `m${seq}` },
      limit,
    );
    dropped.push(...droppedRecent(w, next).map((m) => m.seq));
    w = next;
  }
  const kept = recentList(w).map((m) => m.seq);
  // Every seq is either still in the window or was dropped, never both, never twice.
  assert.deepEqual([...dropped, ...kept], Array.from({ length: 10 * BLOCK + 7 }, (_, i) => i + 1));
  assert.ok(kept.length >= limit);
  // A window that has not reached its limit drops nothing.
  let short: RecentBlocks = [];
  for (let seq = 1; seq <= limit; seq++) {
    const next = appendRecent(short, { seq, senderId: "u1" }, limit);
    assert.deepEqual(droppedRecent(short, next), []);
    short = next;
  }
});
