/** KV keys of the statistics counters that session events maintain (KvU64 sums). */
export const STATS_PREFIX = ["stats"] as const;

export const statsKeys = {
  messages: () => [...STATS_PREFIX, "messages"],
  chatsCreated: () => [...STATS_PREFIX, "chats_created"],
  chatsClosed: () => [...STATS_PREFIX, "chats_closed"],
  peakConnections: () => [...STATS_PREFIX, "peak_connections"],
  operator: (id: string, field: OperatorCounter) => [...STATS_PREFIX, "op", id, field],
  operatorPrefix: () => [...STATS_PREFIX, "op"],
};

export const OPERATOR_COUNTERS = [
  "assigned",
  "handled",
  "resolution_ms",
  "frt_ms",
  "frt_n",
  "rating_sum",
  "rating_n",
] as const;

export type OperatorCounter = typeof OPERATOR_COUNTERS[number];
