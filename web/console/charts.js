// @ts-check
/**
 * Charts for the statistics view, as SVG built with createElementNS: grouped bars (chats per day,
 * per operator) and lines (average times per day), with axes, gridlines and a legend.
 *
 * Hand-written rather than a charting library: the page has no build step and a CSP without
 * inline styles (`style-src 'self'`), and Chart.js, ECharts and friends draw on a canvas (no
 * text for screen readers) or set style attributes; d3 would have to come as a bundle. What we
 * need is two chart shapes over at most a year of days: about 150 lines. Colours come from CSS
 * classes (`.series-0` …), so they follow the page's stylesheet; every chart has a text name
 * (`role="img"` with `aria-label`), and the views show the same numbers in tables.
 */

const NS = "http://www.w3.org/2000/svg";
const W = 640;
const H = 220;
const PAD = { top: 12, right: 12, bottom: 36, left: 52 };

/** An SVG element with attributes. @param {string} tag @param {Record<string, string | number>} attrs */
function svg(tag, attrs = {}, text = "") {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text) el.textContent = text;
  return el;
}

/**
 * Steps an axis of seconds may take: seconds below a minute, then whole minutes (durations are
 * shown to the minute, so 30 s steps would print "2 min" at 90 s and 120 s), hours up to a top
 * under 48 h (shown as hours and minutes), then whole days.
 */
const TIME_STEPS = [1, 2, 5, 10, 15, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800];

/**
 * The axis for values up to `max`: a step every gridline is a whole multiple of (1, 2 or 5 times
 * a power of ten, at least 1 for counts; whole seconds, minutes or hours for times, which the
 * format then shows without rounding two lines to the same text) and the top, at most 5 steps.
 * @param {number} max @param {"count" | "time"} scale
 */
export function axis(max, scale) {
  const want = Math.max(max, 0) / 4;
  let step;
  if (scale === "time") {
    step = TIME_STEPS.find((x) => x >= want) ?? Math.ceil(want / 86_400) * 86_400;
  } else {
    const p = 10 ** Math.floor(Math.log10(want || 1));
    step = Math.max(1, [1, 2, 5, 10].map((m) => m * p).find((v) => v >= want) ?? 10 * p);
  }
  const top = Math.max(step, Math.ceil(max / step) * step);
  return { step, top };
}

/**
 * @typedef {{ name: string, values: Array<number | null> }} Series
 * @typedef {{ label: string, categories: string[], series: Series[],
 *   format: (n: number) => string, kind: "bar" | "line", scale: "count" | "time" }} ChartSpec
 */

/** The frame: gridlines with the axis' values, category labels (thinned to fit). */
function frame(
  /** @type {SVGElement} */ root,
  /** @type {ChartSpec} */ s,
  /** @type {{ step: number, top: number }} */ ax,
) {
  const plotH = H - PAD.top - PAD.bottom;
  const lines = Math.round(ax.top / ax.step);
  for (let i = 0; i <= lines; i++) {
    const y = PAD.top + plotH - (plotH * i) / lines;
    root.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "grid" }));
    root.append(
      svg(
        "text",
        { x: PAD.left - 6, y: y + 4, class: "axis", "text-anchor": "end" },
        s.format(ax.step * i),
      ),
    );
  }
  const n = s.categories.length;
  const step = (W - PAD.left - PAD.right) / Math.max(1, n);
  const every = Math.max(1, Math.ceil(n / 8));
  s.categories.forEach((c, i) => {
    if (i % every !== 0 && i !== n - 1) return;
    const label = c.length > 12 ? `${c.slice(0, 11)}…` : c;
    root.append(svg("text", {
      x: PAD.left + step * i + step / 2,
      y: H - PAD.bottom + 16,
      class: "axis",
      "text-anchor": "middle",
    }, label));
  });
  return step;
}

/**
 * A chart as a `<figure>`: the SVG and its legend.
 * @param {ChartSpec} s
 */
export function chart(s) {
  const values = s.series.flatMap((x) => x.values).filter((v) => typeof v === "number");
  const ax = axis(Math.max(0, .../** @type {number[]} */ (values)), s.scale);
  const top = ax.top;
  const plotH = H - PAD.top - PAD.bottom;
  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: `chart chart-${s.kind}`,
    role: "img",
    "aria-label": s.label,
    preserveAspectRatio: "xMidYMid meet",
  });
  const step = frame(root, s, ax);
  const y = (/** @type {number} */ v) => PAD.top + plotH - (plotH * v) / top;
  s.series.forEach((series, k) => {
    const g = svg("g", { class: `series series-${k}` });
    if (s.kind === "bar") {
      const bw = Math.max(1, (step * 0.8) / s.series.length);
      series.values.forEach((v, i) => {
        if (typeof v !== "number") return;
        const x = PAD.left + step * i + step * 0.1 + bw * k;
        const r = svg("rect", { x, y: y(v), width: bw, height: Math.max(0, y(0) - y(v)) });
        r.append(svg("title", {}, `${s.categories[i]} · ${series.name}: ${s.format(v)}`));
        g.append(r);
      });
    } else {
      /** @type {string[]} */
      let path = [];
      const flush = () => {
        if (path.length > 1) g.append(svg("polyline", { points: path.join(" "), fill: "none" }));
        path = [];
      };
      series.values.forEach((v, i) => {
        if (typeof v !== "number") return flush();
        const x = PAD.left + step * i + step / 2;
        path.push(`${x},${y(v)}`);
        const dot = svg("circle", { cx: x, cy: y(v), r: 3 });
        dot.append(svg("title", {}, `${s.categories[i]} · ${series.name}: ${s.format(v)}`));
        g.append(dot);
      });
      flush();
    }
    root.append(g);
  });
  const legend = document.createElement("ul");
  legend.className = "legend";
  s.series.forEach((series, k) => {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = `swatch series-${k}`;
    sw.setAttribute("aria-hidden", "true");
    li.append(sw, series.name);
    legend.append(li);
  });
  const fig = document.createElement("figure");
  fig.className = "chart-figure";
  const cap = document.createElement("figcaption");
  cap.textContent = s.label;
  fig.append(cap, root, legend);
  return fig;
}
