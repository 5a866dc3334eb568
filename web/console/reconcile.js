// @ts-check
/**
 * Keyed list updates: a list re-rendered every second (wait times, countdowns) keeps the rows
 * that did not change, so focus, image thumbnails, text selection and screen readers' place
 * survive; only a row whose signature changed is built again. Rows move only when the order
 * really changed.
 */

/** @type {WeakMap<HTMLElement, Map<string, { sig: string, el: HTMLElement }>>} */
const built = new WeakMap();

/**
 * @typedef {{ key: string, sig: string, build(): HTMLElement }} Row
 */

/**
 * Makes `list`'s children the rows given, in order.
 * @param {HTMLElement} list
 * @param {Row[]} rows
 */
export function reconcile(list, rows) {
  const before = built.get(list) ?? new Map();
  /** @type {Map<string, { sig: string, el: HTMLElement }>} */
  const after = new Map();
  const els = rows.map((r) => {
    const old = before.get(r.key);
    const el = old && old.sig === r.sig && old.el.parentElement === list ? old.el : r.build();
    if (old && old.el !== el && old.el.contains(document.activeElement)) {
      // Keep the keyboard where it was: focus the same control in the new row.
      const sel = focusPath(old.el);
      queueMicrotask(() =>
        /** @type {HTMLElement | null} */ (sel ? el.querySelector(sel) : el)?.focus()
      );
    }
    after.set(r.key, { sig: r.sig, el });
    return el;
  });
  built.set(list, after);
  const same = els.length === list.children.length && els.every((el, i) => list.children[i] === el);
  if (!same) list.replaceChildren(...els);
}

/** A selector for the focused control inside `row` (its tag and class), or null for the row. */
function focusPath(/** @type {HTMLElement} */ row) {
  const a = /** @type {HTMLElement} */ (document.activeElement);
  if (a === row) return null;
  return `${a.tagName.toLowerCase()}${[...a.classList].map((c) => `.${CSS.escape(c)}`).join("")}`;
}
