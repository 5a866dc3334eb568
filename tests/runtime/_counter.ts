/** A tiny entity for runtime tests. */
import { accept, cancelTimer, type Entity, reject, tell, timer } from "../../src/runtime/mod.ts";

export interface CounterState {
  total: number;
  notes: string[];
}
export type CounterCommand =
  | { type: "add"; n: number; note?: string }
  | { type: "get" }
  | { type: "boom" }
  | { type: "refuse" }
  | { type: "forward"; to: string; n: number }
  | { type: "remind"; delayMs: number; n: number }
  | { type: "forget" };
export type CounterEvent = { type: "added"; n: number; note?: string };
export type CounterReply = { total: number };

export const counter: Entity<CounterState, CounterCommand, CounterEvent, CounterReply> & {
  recovered: Array<{ id: string; cleanStop: boolean }>;
} = {
  type: "counter",
  recovered: [],
  initialState: () => ({ total: 0, notes: [] }),
  decide(state, cmd) {
    switch (cmd.type) {
      case "add":
        return accept([{ type: "added", n: cmd.n, note: cmd.note }], {
          total: state.total + cmd.n,
        });
      case "get":
        return accept([], { total: state.total });
      case "boom":
        throw new Error("boom");
      case "refuse":
        return reject("invalid_state", "Refused on purpose");
      case "forward":
        return accept([], { total: state.total }, [
          tell("counter", cmd.to, { type: "add", n: cmd.n }),
        ]);
      case "remind":
        return accept([], { total: state.total }, [
          timer("r", cmd.delayMs, { type: "add", n: cmd.n }),
        ]);
      case "forget":
        return accept([], { total: state.total }, [cancelTimer("r")]);
    }
  },
  evolve(state, event) {
    const notes = event.note ? [...state.notes, event.note] : state.notes;
    return { total: state.total + event.n, notes };
  },
  writes(_before, env, after) {
    return [
      { op: "sum", key: ["test-total"], n: BigInt(env.event.n) },
      { op: "set", key: ["test-last", after.total], value: env.seq },
    ];
  },
  onRecover(_state, ctx) {
    counter.recovered.push({ id: ctx.id, cleanStop: ctx.cleanStop });
    return [];
  },
};
