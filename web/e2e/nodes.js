// Helpers of the tests that run several nodes of the server (cluster.test.js, cascade.test.js): the
// operators' API of a node, a room's lease in Redis, and what a page's sockets and screen say.

import { pageVideoState } from './helpers.js';

/** GET an /api/v1 path of a node with the admin token: the JSON body, or an error naming the status. */
export async function api(node, path, token) {
  const r = await fetch(`${node.url}${path}`, { headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(3000) });
  const body = await r.text();
  if (!r.ok) throw new Error(`GET ${node.name} ${path}: HTTP ${r.status} ${body.slice(0, 200)}`);
  return JSON.parse(body);
}

/**
 * Redis's lease of a room ("TOKEN NODE URL" under the cluster's key prefix): {token, node, url}, or null
 * when it has none. h is the Harness, sock its redis socket.
 */
export async function leaseOf(h, sock, keyPrefix, room) {
  const v = await h.redis(sock, 'GET', `${keyPrefix}lease:${room}`);
  if (!v) return null;
  const [token, node, url] = v.split(' ');
  return { token, node, url };
}

/** Records the WebSockets a page opens (Playwright sees them; the page exposes none). */
export function trackSockets(peer) {
  peer.sockets = [];
  peer.page.on('websocket', (ws) => {
    const s = { url: ws.url(), open: true, at: Date.now(), closedAt: 0 };
    peer.sockets.push(s);
    ws.on('close', () => {
      s.open = false;
      s.closedAt = Date.now();
    });
  });
}

/** The page's open WebSocket (the last one opened that has not closed), or null. */
export function openSocket(peer) {
  return [...peer.sockets].reverse().find((s) => s.open) || null;
}

/** The page's body[data-state]. */
export const stateOf = (peer) => peer.page.evaluate(() => document.body.dataset.state);

/** A page's state for failure messages: state, status, banner, roster, connection, sockets, composite. */
export async function describePage(peer) {
  const sockets = peer.sockets.map((s) => `${s.url}${s.open ? ' (open)' : ''}`).join(', ');
  try {
    const s = await peer.page.evaluate(() => {
      const text = (id) => document.getElementById(id)?.textContent?.trim() || '';
      const pc = /** @type {any} */ (window).mcuPeer;
      return {
        origin: location.origin,
        state: document.body.dataset.state,
        status: text('status'),
        banner: document.getElementById('banner')?.hidden ? '' : text('banner-text'),
        left: document.getElementById('left-screen')?.hidden ? '' : `${text('left-title')}: ${text('left-text')}`,
        roster: [...document.querySelectorAll('#roster li.participant .name')].map((n) => n.textContent?.trim()),
        pc: pc ? `${pc.connectionState}/${pc.iceConnectionState}` : 'none',
      };
    });
    const v = await peer.page.evaluate(pageVideoState, '#composite');
    const logs = peer.console.slice(-6).join('\n    ');
    return `${peer.name}: ${JSON.stringify(s)} sockets [${sockets}] composite ${JSON.stringify(v)}${logs ? `\n    console: ${logs}` : ''}`;
  } catch (err) {
    return `${peer.name}: cannot inspect page: ${err.message}; sockets [${sockets}]`;
  }
}
