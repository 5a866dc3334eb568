/**
 * The server's V8 inspector (Chrome DevTools Protocol over WebSocket): a CPU profile of the
 * measured window, saved as `.cpuprofile` (opens in Chrome DevTools) and summarised as self time
 * per function; a forced garbage collection before RSS readings (`--server-gc`); and a heap
 * snapshot (`--server-heap`), saved as `.heapsnapshot` and summarised by constructor.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export class Inspector {
  readonly #ws: WebSocket;
  #id = 0;
  readonly #waiting = new Map<number, (r: Record<string, unknown>) => void>();

  #chunks: string[] | null = null;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data as string);
      if (msg.method === "HeapProfiler.addHeapSnapshotChunk") {
        this.#chunks?.push(msg.params.chunk);
        return;
      }
      if (typeof msg.id === "number") this.#waiting.get(msg.id)?.(msg.result ?? msg);
      this.#waiting.delete(msg.id);
    };
  }

  /** A heap snapshot of the server (after a full GC), written to `file`; returns its text. */
  async heapSnapshot(file: string): Promise<string> {
    this.#chunks = [];
    await this.#call("HeapProfiler.enable");
    await this.#call("HeapProfiler.collectGarbage");
    await this.#call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    const text = this.#chunks.join("");
    this.#chunks = null;
    await Deno.writeTextFile(file, text);
    return text;
  }

  static async connect(url: string): Promise<Inspector> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`cannot reach the inspector at ${url}`));
    });
    return new Inspector(ws);
  }

  #call(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = ++this.#id;
    const { promise, resolve, reject } = Promise.withResolvers<Record<string, unknown>>();
    const timer = setTimeout(() => reject(new Error(`inspector: ${method} timed out`)), 120_000);
    this.#waiting.set(id, (r) => (clearTimeout(timer), resolve(r)));
    this.#ws.send(JSON.stringify({ id, method, params }));
    return promise;
  }

  /** A full garbage collection in the server. */
  async collectGarbage(): Promise<void> {
    await this.#call("HeapProfiler.collectGarbage");
  }

  async startProfile(intervalUs = 250): Promise<void> {
    await this.#call("Profiler.enable");
    await this.#call("Profiler.setSamplingInterval", { interval: intervalUs });
    await this.#call("Profiler.start");
  }

  /** Stops, writes the profile to `file` and returns a text summary of the top functions. */
  async stopProfile(file: string, top = 25): Promise<string> {
    const { profile } = await this.#call("Profiler.stop") as { profile: Profile };
    await Deno.writeTextFile(file, JSON.stringify(profile));
    return summarize(profile, top);
  }

  close(): void {
    this.#ws.close();
  }
}

/** Self time per function (name + file:line), largest first, as percentages of all samples. */
export function summarize(p: Profile, top: number): string {
  const byNode = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0;
    const n = byNode.get(p.samples[i]);
    if (!n) continue;
    const f = n.callFrame;
    const file = f.url.replace(/^.*\/(src|actors|routes|node_modules|ext)\//, "$1/");
    const key = `${f.functionName || "(anonymous)"} ${file}${f.url ? `:${f.lineNumber + 1}` : ""}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  const lines = rows.map(([k, us]) => `${(100 * us / total).toFixed(1).padStart(5)}%  ${k}`);
  return [`self time over ${(total / 1e6).toFixed(1)} s of samples:`, ...lines].join("\n");
}

/**
 * Self size by constructor (or node type) of a heap snapshot, largest first: where the heap goes.
 * Strings, arrays and closures are grouped by their type.
 */
export function summarizeHeap(text: string, top = 30): string {
  const snap = JSON.parse(text) as {
    snapshot: { meta: { node_fields: string[]; node_types: (string | string[])[] } };
    nodes: number[];
    strings: string[];
  };
  const f = snap.snapshot.meta.node_fields;
  const width = f.length;
  const [iType, iName, iSize] = ["type", "name", "self_size"].map((k) => f.indexOf(k));
  const types = snap.snapshot.meta.node_types[iType] as string[];
  const by = new Map<string, { size: number; count: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]];
    const size = snap.nodes[i + iSize];
    const key = type === "object" ? snap.strings[snap.nodes[i + iName]] : `(${type})`;
    const row = by.get(key) ?? { size: 0, count: 0 };
    row.size += size;
    row.count++;
    by.set(key, row);
    total += size;
  }
  const rows = [...by.entries()].sort((a, b) => b[1].size - a[1].size).slice(0, top);
  return [
    `heap: ${(total / 2 ** 20).toFixed(1)} MB in self sizes; largest by constructor:`,
    ...rows.map(([k, r]) =>
      `${(r.size / 2 ** 20).toFixed(1).padStart(7)} MB ${String(r.count).padStart(9)}  ${k}`
    ),
  ].join("\n");
}
