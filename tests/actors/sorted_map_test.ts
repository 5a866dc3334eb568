/**
 * The persistent sorted map (actors/_sorted_map.ts) against a plain model (a JS Map, sorted on
 * read) over random sequences of sets and deletes: same contents, order, ranks and pages, a valid
 * balanced tree after every step, and every older version unchanged.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { checkTree, compareStrings, SortedMap } from "../../actors/_sorted_map.ts";

const byNumber = (a: number, b: number) => a - b;

type Op = { set: number; v: string } | { del: number };

const op = fc.oneof(
  fc.record({ set: fc.integer({ min: 0, max: 60 }), v: fc.string({ maxLength: 3 }) }),
  fc.record({ del: fc.integer({ min: 0, max: 60 }) }),
);

function sortedModel(model: Map<number, string>): [number, string][] {
  return [...model.entries()].sort((a, b) => a[0] - b[0]);
}

function assertSame(m: SortedMap<number, string>, model: Map<number, string>, where: string) {
  const want = sortedModel(model);
  assert.equal(checkTree(m), null, `tree invariant ${where}`);
  assert.equal(m.size, want.length, `size ${where}`);
  assert.deepEqual([...m.entries()], want, `entries ${where}`);
  want.forEach(([k, v], i) => {
    assert.equal(m.get(k), v);
    assert.equal(m.indexOf(k), i);
    assert.equal(m.rankOf(k), i);
    assert.deepEqual(m.at(i), [k, v]);
  });
}

Deno.test("SortedMap: random sets and deletes match a plain model (seeded)", () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops: Op[]) => {
      let m = SortedMap.empty<number, string>(byNumber);
      const model = new Map<number, string>();
      const history: Array<[SortedMap<number, string>, [number, string][]]> = [];
      ops.forEach((o, i) => {
        if ("set" in o) {
          m = m.set(o.set, o.v);
          model.set(o.set, o.v);
        } else {
          m = m.delete(o.del);
          model.delete(o.del);
        }
        assert.equal(checkTree(m), null, `after op ${i}`);
        history.push([m, sortedModel(model)]);
      });
      assertSame(m, model, "at the end");
      // Persistence: every version still holds exactly what it held.
      for (const [old, want] of history) assert.deepEqual([...old.entries()], want);
    }),
    { seed: 1313, numRuns: 300 },
  );
});

Deno.test("SortedMap: ranks of absent keys, pages from any place, ranges from any key", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 500 }), { maxLength: 120 }),
      fc.integer({ min: -5, max: 130 }),
      fc.integer({ min: -10, max: 510 }),
      (keys, from, probe) => {
        const m = SortedMap.from(byNumber, keys.map((k) => [k, `v${k}`] as const));
        const sorted = [...keys].sort((a, b) => a - b);
        assert.equal(checkTree(m), null);
        assert.deepEqual([...m.keys()], sorted);
        assert.deepEqual(
          [...m.entries(from)].map(([k]) => k),
          sorted.slice(Math.max(0, from)),
        );
        assert.equal(m.rankOf(probe), sorted.filter((k) => k < probe).length);
        assert.equal(m.indexOf(probe), sorted.indexOf(probe));
        assert.deepEqual(
          [...m.entriesFrom(probe)].map(([k]) => k),
          sorted.filter((k) => k >= probe),
        );
        assert.equal(m.at(from)?.[0], from >= 0 ? sorted[from] : undefined);
      },
    ),
    { seed: 4242, numRuns: 300 },
  );
});

Deno.test("SortedMap: fromSorted builds a balanced tree and refuses unordered input", () => {
  const entries = Array.from({ length: 1000 }, (_, i) => [`k${String(i).padStart(4, "0")}`, i]);
  const m = SortedMap.fromSorted(compareStrings, entries as [string, number][]);
  assert.equal(checkTree(m), null);
  assert.equal(m.size, 1000);
  assert.deepEqual(m.at(500), ["k0500", 500]);
  assert.deepEqual(m.first(), ["k0000", 0]);
  assert.throws(() => SortedMap.fromSorted(byNumber, [[2, "b"], [1, "a"]]), /not after/);
  assert.throws(() => SortedMap.fromSorted(byNumber, [[1, "a"], [1, "b"]]), /not after/);
});

Deno.test("SortedMap: delete of an absent key returns the same map; JSON is refused", () => {
  const m = SortedMap.empty<number, string>(byNumber).set(1, "a");
  assert.equal(m.delete(2), m);
  assert.equal(m.get(2), undefined);
  assert.equal(m.at(1), undefined);
  assert.equal(SortedMap.empty<number, string>(byNumber).first(), undefined);
  assert.throws(() => JSON.stringify({ m }), /not JSON/);
});

Deno.test("SortedMap: 100,000 inserts in order stay logarithmic in depth", () => {
  let m = SortedMap.empty<number, number>(byNumber);
  for (let i = 0; i < 100_000; i++) m = m.set(i, i);
  const depth = (t: typeof m.root): number => t === null ? 0 : 1 + Math.max(depth(t.l), depth(t.r));
  assert.ok(depth(m.root) <= 2 * Math.log2(100_000), `depth ${depth(m.root)}`);
  assert.equal(checkTree(m), null);
});
