// The viewer page (/watch/ROOM, watch.html): plays the whole room, a grid of everyone and the full mix,
// received with WHEP from /whep/ROOM, in the whole window. It shows the room name and a one-line state,
// and reconnects (with backoff) whenever the stream cannot start or fails. Entry module of watch.html.
//
// WHEP here: an OPTIONS request learns the STUN/TURN servers (Link rel="ice-server"), a receive-only
// offer with the candidates gathered within a second goes out in a POST, later candidates follow in PATCH
// requests (application/trickle-ice-sdpfrag), and a DELETE of the resource ends it (also on page exit).
//
// The room's chat is read-only here: a "chat" data channel in the offer gets the history and every new
// message (protocol: signaling/chat), shown in a corner over the picture.
//
// For tests: body[data-state] is connecting | playing | reconnecting | error, and window.mcuWatch holds
// the state, the resource URL and the peer connection.

import { preferH264 } from './peer.js';
import { RemotePlayer } from './player.js';
import { pickIceServers, queryFlag, roomFromPath } from './params.js';
import { $ } from './ui.js';
import { Chat } from './chat.js';

/** Backoff between attempts: 1, 2, 4, … s, at most MAX_DELAY_MS; a stream that played STABLE_MS resets it. */
const MAX_DELAY_MS = 30000;
const STABLE_MS = 10000;
/** How long to wait for ICE gathering before the offer goes out (the rest is trickled). */
const GATHER_MS = 1000;
/** How long a "disconnected" connection may take to recover before the page reconnects. */
const DISCONNECTED_MS = 5000;

/**
 * @typedef {object} WatchParams
 * @property {string} room from the path /watch/NAME (decoded; empty if the path has none)
 * @property {string} name ?name= the viewer's name on the server (default: the server's "WHEP viewer")
 * @property {string} token ?access_token= (or ?token=): the room access token or bearer token, when the server requires one
 * @property {boolean} debug ?debug=1 logs the exchange to the console
 * @property {boolean} relay ?relay=1 receives through the TURN relay only (iceTransportPolicy "relay")
 * @property {string|null} turn ?turn=udp|tcp|tls keeps only the TURN URLs of that transport
 */

/**
 * Reads the page parameters from its address.
 * @param {Location|URL} loc
 * @returns {WatchParams}
 */
export function parseWatchParams(loc) {
  const q = new URLSearchParams(loc.search);
  return {
    room: roomFromPath(loc, 'watch'),
    name: (q.get('name') || '').trim(),
    token: q.get('access_token') || q.get('token') || '',
    debug: queryFlag(q, 'debug'),
    relay: queryFlag(q, 'relay'),
    turn: ['udp', 'tcp', 'tls'].includes(q.get('turn') || '') ? q.get('turn') : null,
  };
}

/**
 * The ICE servers of Link header values (RFC 9725 section 4.6): `<url>; rel="ice-server"` with optional
 * username, credential. Other links are ignored.
 * @param {string|null} header the Link header (fetch joins repeated headers with ", ")
 * @returns {RTCIceServer[]}
 */
export function parseIceServerLinks(header) {
  /** @type {RTCIceServer[]} */
  const out = [];
  if (!header) return out;
  // Each link is <uri> followed by ;-separated parameters whose values may be quoted strings.
  const re = /<([^>]*)>((?:\s*;\s*[a-zA-Z-]+\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^;,]*))*)/g;
  for (const m of header.matchAll(re)) {
    /** @type {Record<string, string>} */
    const params = {};
    for (const p of m[2].matchAll(/;\s*([a-zA-Z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,]*)/g)) {
      let v = p[2].trim();
      if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
      params[p[1].toLowerCase()] = v;
    }
    if (params.rel !== 'ice-server') continue;
    /** @type {RTCIceServer} */
    const s = { urls: m[1] };
    if (params.username !== undefined) s.username = params.username;
    if (params.credential !== undefined) s.credential = params.credential;
    out.push(s);
  }
  return out;
}

/**
 * A trickle-ice-sdpfrag body (RFC 8840) with the candidates of one media section.
 * @param {{ufrag: string, pwd: string, mid: string, candidates: string[], end?: boolean}} f candidates
 *   as in RTCIceCandidate.candidate ("candidate:...")
 * @returns {string}
 */
export function trickleFragment({ ufrag, pwd, mid, candidates, end = false }) {
  const lines = [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`, 'm=audio 9 UDP/TLS/RTP/SAVPF 0', `a=mid:${mid}`];
  for (const c of candidates) lines.push(`a=${c}`);
  if (end) lines.push('a=end-of-candidates');
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * The first value of an SDP attribute (a=NAME:value), or ''.
 * @param {string} sdp
 * @param {string} name
 */
function sdpAttribute(sdp, name) {
  const m = new RegExp(`^a=${name}:(.*)$`, 'm').exec(sdp);
  return m ? m[1].trim() : '';
}

/** An error that retrying will not fix (bad token, refused offer). */
class FatalError extends Error {}

/** One viewer: connects, plays, and reconnects until the page goes away. */
class Watcher {
  /**
   * @param {WatchParams} params
   * @param {{video: HTMLVideoElement, startAudio: HTMLButtonElement, title: HTMLElement, state: HTMLElement, chat: HTMLOListElement}} els
   */
  constructor(params, els) {
    this.params = params;
    this.els = els;
    this.player = new RemotePlayer(els.video, els.startAudio);
    /** the room's chat, shown over the picture (a reconnection gets the history again; shown messages are not repeated) */
    this.chat = new Chat({ list: els.chat }, (text) => this.log('chat', text));
    this.endpoint = new URL(`/whep/${encodeURIComponent(params.room)}`, window.location.href);
    if (params.name) this.endpoint.searchParams.set('name', params.name);
    this.log = params.debug ? (/** @type {any[]} */ ...a) => console.debug('[watch]', ...a) : () => {};
    /** @type {RTCPeerConnection|null} */
    this.pc = null;
    /** @type {string|null} the current WHEP resource */
    this.resource = null;
    this.etag = '';
    this.attempt = 0; // generation: events of older attempts are ignored
    this.failures = 0; // consecutive, for the backoff
    this.retryTimer = 0;
    this.disconnectTimer = 0;
    this.playingSince = 0;
    /** @type {string[]} candidates waiting for the resource or for the PATCH in flight */
    this.trickle = [];
    this.trickleEnd = false;
    this.patching = false;
    this.state = '';
  }

  /** @returns {Record<string, string>} */
  authHeaders() {
    return this.params.token ? { Authorization: `Bearer ${this.params.token}` } : {};
  }

  /**
   * @param {'connecting'|'playing'|'reconnecting'|'error'} state
   * @param {string} text
   */
  setState(state, text) {
    this.state = state;
    document.body.dataset.state = state;
    this.els.state.textContent = text;
    window.mcuWatch = { state, text, resource: this.resource, pc: this.pc };
  }

  /** Starts one attempt: ICE servers, offer, POST, answer. */
  async connect() {
    window.clearTimeout(this.retryTimer);
    const attempt = ++this.attempt;
    this.setState('connecting', this.failures ? `Reconnecting (attempt ${this.failures + 1})…` : 'Connecting…');
    try {
      const iceServers = await this.iceServers();
      if (attempt !== this.attempt) return;
      const pc = new RTCPeerConnection({ iceServers: pickIceServers(iceServers, this.params.turn), bundlePolicy: 'max-bundle',
        iceTransportPolicy: this.params.relay ? 'relay' : 'all' });
      this.pc = pc;
      pc.addTransceiver('audio', { direction: 'recvonly' });
      preferH264(pc.addTransceiver('video', { direction: 'recvonly' }));
      // The room's chat, read-only: the server sends the history and every new message on it.
      this.chat?.attach(pc.createDataChannel('chat', { ordered: true }));
      pc.addEventListener('track', (ev) => {
        if (attempt === this.attempt) this.player.addTrack(ev.track);
      });
      pc.addEventListener('icecandidate', (ev) => {
        if (attempt !== this.attempt) return;
        if (ev.candidate && ev.candidate.candidate) this.trickle.push(ev.candidate.candidate);
        else if (!ev.candidate) this.trickleEnd = true;
        this.flushTrickle(attempt);
      });
      pc.addEventListener('connectionstatechange', () => this.connectionChanged(attempt));
      const gathered = new Promise((resolve) => {
        const done = () => pc.iceGatheringState === 'complete' && resolve(undefined);
        pc.addEventListener('icegatheringstatechange', done);
        window.setTimeout(resolve, GATHER_MS);
      });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered;
      if (attempt !== this.attempt) return;
      const offer = /** @type {RTCSessionDescription} */ (pc.localDescription).sdp;
      // The candidates in the offer need no PATCH.
      this.trickle = this.trickle.filter((c) => !offer.includes(c));
      this.log('POST', this.endpoint.href);
      const res = await fetch(this.endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', ...this.authHeaders() },
        body: offer,
      });
      const body = await res.text();
      if (attempt !== this.attempt) {
        const loc = res.headers.get('Location');
        if (res.status === 201 && loc) this.deleteResource(new URL(loc, res.url || this.endpoint).href);
        return;
      }
      if (res.status !== 201) throw this.refusal(res.status, body, res.headers.get('Retry-After'));
      const loc = res.headers.get('Location');
      if (!loc) throw new Error('the server gave no resource Location');
      this.resource = new URL(loc, res.url || this.endpoint).href;
      this.etag = res.headers.get('ETag') || '';
      this.log('resource', this.resource);
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
      // The server ending the session (DELETE elsewhere, removal, shutdown) closes DTLS at once, long
      // before ICE would notice the silence.
      const dtls = pc.getReceivers()[0]?.transport;
      dtls?.addEventListener('statechange', () => {
        this.log('dtls', dtls.state);
        if (attempt === this.attempt && (dtls.state === 'closed' || dtls.state === 'failed')) {
          this.fail(new Error('The stream ended'));
        }
      });
      this.setState('connecting', 'Connecting media…');
      this.flushTrickle(attempt);
    } catch (err) {
      if (attempt !== this.attempt) return;
      this.fail(err);
    }
  }

  /**
   * The STUN/TURN servers the endpoint announces to an OPTIONS request (none when it tells none).
   * @returns {Promise<RTCIceServer[]>}
   */
  async iceServers() {
    try {
      const res = await fetch(this.endpoint, { method: 'OPTIONS', headers: this.authHeaders() });
      return parseIceServerLinks(res.headers.get('Link'));
    } catch {
      return []; // the POST will tell what is wrong
    }
  }

  /**
   * The error for a refused POST: fatal for mistakes a retry cannot fix.
   * @param {number} status
   * @param {string} body
   * @param {string|null} retryAfter
   */
  refusal(status, body, retryAfter) {
    const why = body.trim() || `HTTP ${status}`;
    switch (status) {
      case 401:
        if (/expired/i.test(why)) return new FatalError('This link has expired. Ask whoever shared it for a new one.');
        return new FatalError(this.params.token ? `The link's token was refused: ${why}` : 'This room needs an access token: open the link you were given.');
      case 403:
        return new FatalError(/origin/i.test(why) ? 'This page is not allowed to watch (origin refused).' : `This link does not let you watch this room: ${why}`);
      case 400:
      case 404:
      case 415:
      case 422:
        return new FatalError(`The server refused the stream: ${why}`);
      case 503: {
        const err = new Error(/full/i.test(why) ? 'The room is full' : 'The server is busy');
        /** @type {any} */ (err).retryAfterMs = Number(retryAfter) > 0 ? Number(retryAfter) * 1000 : 0;
        return err;
      }
      default:
        return new Error(`The server answered ${status}: ${why}`);
    }
  }

  /**
   * Sends the queued candidates of this attempt in one PATCH, once the resource exists; one at a time.
   * @param {number} attempt
   */
  async flushTrickle(attempt) {
    if (this.patching || !this.resource || !this.pc || attempt !== this.attempt) return;
    if (!this.trickle.length && !this.trickleEnd) return;
    const local = this.pc.localDescription;
    if (!local) return;
    const candidates = this.trickle.splice(0);
    const end = this.trickleEnd;
    this.trickleEnd = false;
    this.patching = true;
    try {
      const mid = this.pc.getTransceivers()[0]?.mid || '0';
      const res = await fetch(this.resource, {
        method: 'PATCH',
        headers: {
          'Content-Type': 'application/trickle-ice-sdpfrag', ...this.authHeaders(), ...(this.etag ? { 'If-Match': this.etag } : {}),
        },
        body: trickleFragment({
          ufrag: sdpAttribute(local.sdp, 'ice-ufrag'), pwd: sdpAttribute(local.sdp, 'ice-pwd'), mid, candidates, end,
        }),
      });
      this.log('PATCH', candidates.length, 'candidates:', res.status);
    } catch (err) {
      this.log('PATCH failed', err); // the candidates in the offer may still do
    } finally {
      this.patching = false;
    }
    if (this.trickle.length) this.flushTrickle(attempt);
  }

  /** @param {number} attempt */
  connectionChanged(attempt) {
    const pc = this.pc;
    if (!pc || attempt !== this.attempt) return;
    const s = pc.connectionState;
    this.log('connection', s);
    window.clearTimeout(this.disconnectTimer);
    if (s === 'connected') {
      this.playingSince = Date.now();
      this.setState('playing', 'Live');
    } else if (s === 'failed') {
      this.fail(new Error('The connection failed'));
    } else if (s === 'disconnected') {
      this.setState('connecting', 'Connection interrupted…');
      this.disconnectTimer = window.setTimeout(() => {
        if (attempt === this.attempt && pc.connectionState !== 'connected') this.fail(new Error('The connection was lost'));
      }, DISCONNECTED_MS);
    }
  }

  /**
   * Ends this attempt and schedules the next, unless the error is fatal.
   * @param {unknown} err
   */
  fail(err) {
    const text = err instanceof Error ? err.message : String(err);
    this.log('failed:', err);
    this.teardown();
    if (err instanceof FatalError) {
      this.setState('error', text);
      return;
    }
    if (this.playingSince && Date.now() - this.playingSince >= STABLE_MS) this.failures = 0;
    this.playingSince = 0;
    const backoff = Math.min(MAX_DELAY_MS, 1000 * 2 ** this.failures);
    const delay = Math.max(backoff, /** @type {any} */ (err)?.retryAfterMs || 0);
    this.failures++;
    this.setState('reconnecting', `${text.replace(/[.:]$/, '')}; retrying in ${Math.round(delay / 1000)} s`);
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }

  /** Closes the connection and deletes the resource of the current attempt. */
  teardown() {
    this.attempt++;
    window.clearTimeout(this.disconnectTimer);
    if (this.resource) this.deleteResource(this.resource);
    this.resource = null;
    this.etag = '';
    this.trickle = [];
    this.trickleEnd = false;
    if (this.pc) {
      try {
        this.pc.close();
      } catch { /* already closed */ }
    }
    this.pc = null;
    this.player.reset();
  }

  /**
   * Deletes a resource, best effort (keepalive: it survives the page going away).
   * @param {string} url
   */
  deleteResource(url) {
    fetch(url, { method: 'DELETE', headers: this.authHeaders(), keepalive: true }).catch(() => {});
  }
}

function main() {
  const params = parseWatchParams(window.location);
  const els = {
    video: /** @type {HTMLVideoElement} */ ($('video')),
    startAudio: /** @type {HTMLButtonElement} */ ($('start-audio')),
    title: $('room-title'),
    state: $('state'),
    chat: /** @type {HTMLOListElement} */ ($('chat')),
  };
  els.title.textContent = params.room;
  document.title = params.room ? `${params.room} · OpenMCU` : 'OpenMCU';
  if (!params.room) {
    document.body.dataset.state = 'error';
    els.state.textContent = 'This address names no room: open /watch/NAME.';
    return;
  }
  const w = new Watcher(params, els);
  window.addEventListener('pagehide', () => w.teardown());
  window.addEventListener('pageshow', (ev) => {
    if (ev.persisted) w.connect(); // back from the page cache, with the old stream torn down
  });
  // The bar fades while the stream plays; moving the pointer or a key brings it back for a while.
  let idle = 0;
  const wake = () => {
    document.body.classList.add('awake');
    window.clearTimeout(idle);
    idle = window.setTimeout(() => document.body.classList.remove('awake'), 3000);
  };
  for (const ev of ['pointermove', 'pointerdown', 'keydown']) window.addEventListener(ev, wake);
  wake();
  w.connect();
}

if (globalThis.document?.body?.classList.contains('watch')) main();
