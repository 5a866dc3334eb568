// @ts-check
/**
 * What both pages' alerts draw and play: a red count badge on a favicon canvas, and short sine
 * tones through Web Audio. Each page keeps its own icon, tones and loudness.
 */

/**
 * A red disc centred at (`x`, `y`) with the count in white ("9+" past 9).
 * @param {CanvasRenderingContext2D} g @param {number} n @param {number} x @param {number} y
 * @param {number} r @param {string} font
 */
export function drawCountBadge(g, n, x, y, r, font) {
  g.fillStyle = "#dc2626";
  g.beginPath();
  g.arc(x, y, r, 0, Math.PI * 2);
  g.fill();
  g.fillStyle = "#fff";
  g.font = font;
  g.textAlign = "center";
  g.textBaseline = "middle";
  g.fillText(n > 9 ? "9+" : String(n), x, y + 1);
}

/**
 * Plays `freqs` one after another, `step` s apart, each rising to `peak` in 20 ms, fading by
 * `fade` s and stopped at `stop` s after its start.
 * @param {AudioContext} ctx @param {readonly number[]} freqs
 * @param {{ step: number, peak: number, fade: number, stop: number }} shape
 */
export function playTones(ctx, freqs, { step, peak, fade, stop }) {
  const start = ctx.currentTime;
  freqs.forEach((freq, i) => {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    const at = start + i * step;
    osc.type = "sine";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(peak, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + fade);
    osc.connect(gain).connect(ctx.destination);
    osc.start(at);
    osc.stop(at + stop);
  });
}
