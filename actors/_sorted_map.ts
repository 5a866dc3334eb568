/**
 * A persistent (immutable, structurally shared) sorted map: a weight-balanced binary tree
 * (Adams' trees, the balance of Haskell's Data.Map: delta 3, ratio 2) with the size of every
 * subtree. `set` and `delete` copy only the O(log n) nodes on the path and return a new map, so the
 * old one stays valid: actor state built from it stays pure (decide may evolve tentatively and
 * throw the result away; processBatch evolves again) at O(log n) per event instead of O(n) for a
 * copied array or record. Subtree sizes give positions (`indexOf`) and pages (`at`, `entries(from)`)
 * in O(log n) too.
 *
 * Written here rather than taken from npm: `sorted-btree` (copy-on-write B+ tree) keeps no subtree
 * sizes, so it has no O(log n) rank or select, which queue positions and paged views need; the
 * whole structure is ~200 lines and is property-tested against a plain model
 * (tests/actors/sorted_map_test.ts). Not JSON: entities that hold one give the runtime a snapshot
 * codec (`toSnapshot` / `fromSnapshot` in src/runtime/entity.ts).
 */

export type Compare<K> = (a: K, b: K) => number;

export interface TreeNode<K, V> {
  readonly k: K;
  readonly v: V;
  /** Entries in this subtree. */
  readonly n: number;
  readonly l: TreeNode<K, V> | null;
  readonly r: TreeNode<K, V> | null;
}

type T<K, V> = TreeNode<K, V> | null;

const DELTA = 3;
const RATIO = 2;

const size = <K, V>(t: T<K, V>) => (t === null ? 0 : t.n);
const node = <K, V>(k: K, v: V, l: T<K, V>, r: T<K, V>): TreeNode<K, V> => ({
  k,
  v,
  n: size(l) + size(r) + 1,
  l,
  r,
});

function balance<K, V>(k: K, v: V, l: T<K, V>, r: T<K, V>): TreeNode<K, V> {
  const sl = size(l), sr = size(r);
  if (sl + sr <= 1) return node(k, v, l, r);
  if (sr > DELTA * sl) {
    const { l: rl, r: rr } = r!;
    if (size(rl) < RATIO * size(rr)) return node(r!.k, r!.v, node(k, v, l, rl), rr);
    return node(rl!.k, rl!.v, node(k, v, l, rl!.l), node(r!.k, r!.v, rl!.r, rr));
  }
  if (sl > DELTA * sr) {
    const { l: ll, r: lr } = l!;
    if (size(lr) < RATIO * size(ll)) return node(l!.k, l!.v, ll, node(k, v, lr, r));
    return node(lr!.k, lr!.v, node(l!.k, l!.v, ll, lr!.l), node(k, v, lr!.r, r));
  }
  return node(k, v, l, r);
}

function insert<K, V>(t: T<K, V>, k: K, v: V, cmp: Compare<K>): TreeNode<K, V> {
  if (t === null) return node(k, v, null, null);
  const c = cmp(k, t.k);
  if (c < 0) return balance(t.k, t.v, insert(t.l, k, v, cmp), t.r);
  if (c > 0) return balance(t.k, t.v, t.l, insert(t.r, k, v, cmp));
  return node(k, v, t.l, t.r);
}

function minNode<K, V>(t: TreeNode<K, V>): TreeNode<K, V> {
  while (t.l !== null) t = t.l;
  return t;
}

function maxNode<K, V>(t: TreeNode<K, V>): TreeNode<K, V> {
  while (t.r !== null) t = t.r;
  return t;
}

function deleteMin<K, V>(t: TreeNode<K, V>): T<K, V> {
  if (t.l === null) return t.r;
  return balance(t.k, t.v, deleteMin(t.l), t.r);
}

function deleteMax<K, V>(t: TreeNode<K, V>): T<K, V> {
  if (t.r === null) return t.l;
  return balance(t.k, t.v, t.l, deleteMax(t.r));
}

/** Joins two trees whose keys are all ordered (every key of `l` before every key of `r`). */
function glue<K, V>(l: T<K, V>, r: T<K, V>): T<K, V> {
  if (l === null) return r;
  if (r === null) return l;
  if (l.n > r.n) {
    const m = maxNode(l);
    return balance(m.k, m.v, deleteMax(l), r);
  }
  const m = minNode(r);
  return balance(m.k, m.v, l, deleteMin(r));
}

function remove<K, V>(t: T<K, V>, k: K, cmp: Compare<K>): T<K, V> {
  if (t === null) return null;
  const c = cmp(k, t.k);
  if (c < 0) {
    const l = remove(t.l, k, cmp);
    return l === t.l ? t : balance(t.k, t.v, l, t.r);
  }
  if (c > 0) {
    const r = remove(t.r, k, cmp);
    return r === t.r ? t : balance(t.k, t.v, t.l, r);
  }
  return glue(t.l, t.r);
}

function build<K, V>(entries: readonly (readonly [K, V])[], lo: number, hi: number): T<K, V> {
  if (lo >= hi) return null;
  const mid = (lo + hi) >>> 1;
  const [k, v] = entries[mid];
  return node(k, v, build(entries, lo, mid), build(entries, mid + 1, hi));
}

export class SortedMap<K, V> {
  /** Public so that deep equality (tests) sees the entries, not just an empty object. */
  readonly root: T<K, V>;
  readonly cmp: Compare<K>;

  private constructor(cmp: Compare<K>, root: T<K, V>) {
    this.cmp = cmp;
    this.root = root;
  }

  static empty<K, V>(cmp: Compare<K>): SortedMap<K, V> {
    return new SortedMap<K, V>(cmp, null);
  }

  /** A map of entries already in order (ascending, no equal keys), in O(n). */
  static fromSorted<K, V>(cmp: Compare<K>, entries: readonly (readonly [K, V])[]): SortedMap<K, V> {
    for (let i = 1; i < entries.length; i++) {
      if (cmp(entries[i - 1][0], entries[i][0]) >= 0) {
        throw new Error(`SortedMap.fromSorted: entry ${i} is not after entry ${i - 1}`);
      }
    }
    return new SortedMap(cmp, build(entries, 0, entries.length));
  }

  /** A map of entries in any order (a later equal key wins), in O(n log n). */
  static from<K, V>(cmp: Compare<K>, entries: Iterable<readonly [K, V]>): SortedMap<K, V> {
    let m = SortedMap.empty<K, V>(cmp);
    for (const [k, v] of entries) m = m.set(k, v);
    return m;
  }

  get size(): number {
    return size(this.root);
  }

  get(k: K): V | undefined {
    let t = this.root;
    while (t !== null) {
      const c = this.cmp(k, t.k);
      if (c === 0) return t.v;
      t = c < 0 ? t.l : t.r;
    }
    return undefined;
  }

  has(k: K): boolean {
    let t = this.root;
    while (t !== null) {
      const c = this.cmp(k, t.k);
      if (c === 0) return true;
      t = c < 0 ? t.l : t.r;
    }
    return false;
  }

  /** A map with `k` set to `v` (added, or replacing an equal key). */
  set(k: K, v: V): SortedMap<K, V> {
    return new SortedMap(this.cmp, insert(this.root, k, v, this.cmp));
  }

  /** A map without `k`; this same map when `k` is absent. */
  delete(k: K): SortedMap<K, V> {
    const root = remove(this.root, k, this.cmp);
    return root === this.root ? this : new SortedMap(this.cmp, root);
  }

  /** How many keys come before `k` (whether or not `k` is present). */
  rankOf(k: K): number {
    let t = this.root, rank = 0;
    while (t !== null) {
      const c = this.cmp(k, t.k);
      if (c <= 0) {
        if (c === 0) return rank + size(t.l);
        t = t.l;
      } else {
        rank += size(t.l) + 1;
        t = t.r;
      }
    }
    return rank;
  }

  /** 0-based place of `k`, or -1 when absent. */
  indexOf(k: K): number {
    let t = this.root, rank = 0;
    while (t !== null) {
      const c = this.cmp(k, t.k);
      if (c === 0) return rank + size(t.l);
      if (c < 0) t = t.l;
      else {
        rank += size(t.l) + 1;
        t = t.r;
      }
    }
    return -1;
  }

  /** The entry at 0-based place `i`, or undefined. */
  at(i: number): [K, V] | undefined {
    let t = this.root;
    if (!Number.isInteger(i) || i < 0 || i >= size(t)) return undefined;
    while (t !== null) {
      const sl = size(t.l);
      if (i === sl) return [t.k, t.v];
      if (i < sl) t = t.l;
      else {
        i -= sl + 1;
        t = t.r;
      }
    }
    return undefined;
  }

  first(): [K, V] | undefined {
    return this.root === null ? undefined : ((m) => [m.k, m.v] as [K, V])(minNode(this.root));
  }

  /** Entries in order, from 0-based place `from`. Lazy: a page costs O(log n + page). */
  *entries(from = 0): Generator<[K, V]> {
    const stack: TreeNode<K, V>[] = [];
    let t = this.root, i = Math.max(0, from);
    // Down to place `from`, keeping the nodes still to visit (those we went left of).
    while (t !== null) {
      const sl = size(t.l);
      if (i < sl) {
        stack.push(t);
        t = t.l;
      } else if (i === sl) {
        stack.push(t);
        break;
      } else {
        i -= sl + 1;
        t = t.r;
      }
    }
    yield* walk(stack);
  }

  /** Entries in order from the first key not before `k`. */
  *entriesFrom(k: K): Generator<[K, V]> {
    const stack: TreeNode<K, V>[] = [];
    let t = this.root;
    while (t !== null) {
      if (this.cmp(k, t.k) <= 0) {
        stack.push(t);
        t = t.l;
      } else t = t.r;
    }
    yield* walk(stack);
  }

  *keys(): Generator<K> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): Generator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  /** Not JSON: a snapshot goes through the entity's codec. Failing loudly beats a silent `{}`. */
  toJSON(): never {
    throw new Error("SortedMap is not JSON; snapshot it through the entity's codec");
  }
}

/** In-order walk given the stack of nodes still to visit (top = next). */
function* walk<K, V>(stack: TreeNode<K, V>[]): Generator<[K, V]> {
  while (stack.length > 0) {
    const t = stack.pop()!;
    yield [t.k, t.v];
    for (let c = t.r; c !== null; c = c.l) stack.push(c);
  }
}

/** Checks order, sizes and balance of every node (tests). Returns a problem, or null. */
export function checkTree<K, V>(m: SortedMap<K, V>): string | null {
  const visit = (t: T<K, V>, lo: K | undefined, hi: K | undefined): string | null => {
    if (t === null) return null;
    if (lo !== undefined && m.cmp(lo, t.k) >= 0) return "order";
    if (hi !== undefined && m.cmp(t.k, hi) >= 0) return "order";
    if (t.n !== size(t.l) + size(t.r) + 1) return "size";
    const sl = size(t.l), sr = size(t.r);
    if (sl + sr > 1 && (sl > DELTA * sr || sr > DELTA * sl)) return "balance";
    return visit(t.l, lo, t.k) ?? visit(t.r, t.k, hi);
  };
  return visit(m.root, undefined, undefined);
}

export const compareStrings: Compare<string> = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
