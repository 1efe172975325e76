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

/**
 * The ICE servers a page uses: all of them, or with ?turn=udp|tcp|tls only the TURN URLs of that transport
 * (turn:...?transport=udp or without a transport, turn:...?transport=tcp, turns:), to test one relay path.
 * @param {RTCIceServer[]} servers from the server
 * @param {string|null} turn the ?turn= value
 * @returns {RTCIceServer[]}
 */
export function pickIceServers(servers, turn) {
  if (!turn) return servers;
  const keep = (/** @type {string} */ u) => {
    const url = u.toLowerCase();
    const transport = /[?&]transport=(udp|tcp)/.exec(url)?.[1] || 'udp';
    if (turn === 'tls') return url.startsWith('turns:');
    return url.startsWith('turn:') && transport === turn;
  };
  /** @type {RTCIceServer[]} */
  const out = [];
  for (const s of servers) {
    const urls = (Array.isArray(s.urls) ? s.urls : [s.urls]).filter(keep);
    if (urls.length) out.push({ ...s, urls });
  }
  return out;
}
