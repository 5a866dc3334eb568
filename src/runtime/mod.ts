/**
 * A small event-sourced actor runtime on Deno KV: bounded mailboxes, tell/ask, group commit,
 * snapshots, recovery on first message, passivation, supervision and an injected clock.
 */
export * from "./entity.ts";
export * from "./clock.ts";
export { Mailbox } from "./mailbox.ts";
export { GroupCommitter, KV_LIMITS, type KvCheck, LATENCY_BUCKETS_MS } from "./committer.ts";
export { Journal, type SnapshotHeader } from "./journal.ts";
export {
  ActorSystem,
  type ActorSystemOptions,
  type AskOptions,
  type CommitListener,
  type SystemStats,
} from "./system.ts";
export { ActorTestKit, type RunResult } from "./testkit.ts";
