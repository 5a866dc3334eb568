/** A tiny entity for runtime tests. */
import { accept, type Entity, reject, tell } from "../../src/runtime/mod.ts";

export interface CounterState {
  total: number;
  notes: string[];
}
export type CounterCommand =
  | { type: "add"; n: number; note?: string }
  | { type: "get" }
  | { type: "boom" }
  | { type: "refuse" }
  | { type: "forward"; to: string; n: number };
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
    }
  },
  evolve(state, event) {
    const notes = event.note ? [...state.notes, event.note] : state.notes;
    return { total: state.total + event.n, notes };
  },
  onRecover(_state, ctx) {
    counter.recovered.push({ id: ctx.id, cleanStop: ctx.cleanStop });
    return [];
  },
};
