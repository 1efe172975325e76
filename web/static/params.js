// Page parameters shared by the room page and the viewer page.

/**
 * The room name of a page address /PREFIX/NAME (decoded; empty when the path has none).
 * @param {Location|URL} loc
 * @param {string} prefix "room" or "watch"
 */
export function roomFromPath(loc, prefix) {
  const m = new RegExp(`^/${prefix}/([^/]+)/?$`).exec(loc.pathname);
  if (!m) return '';
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return m[1];
  }
}

/**
 * Whether the query parameter k is on (1, true, yes).
 * @param {URLSearchParams} q @param {string} k
 */
export function queryFlag(q, k) {
  return ['1', 'true', 'yes'].includes((q.get(k) || '').toLowerCase());
}
