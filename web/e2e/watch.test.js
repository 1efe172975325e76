// Browser end-to-end test of WHIP, WHEP and the /watch/ROOM viewer page: the real mcu binary and three
// headless Chromium processes.
//
// How to run (the Makefile's e2e target runs every *.test.js here the same way):
//
//   make build && cd web/e2e && npm ci && MCU_BIN=../../bin/mcu node --test watch.test.js
//
// What it does:
// 1. Writes P1's (red, 440 Hz) and P2's (green, 660 Hz) fake camera and microphone files (helpers.js).
// 2. Starts the server on 127.0.0.1 at a free port with a WHIP token (MCU_WHIP_TOKEN) and loopback ICE.
// 3. P1 joins ROOM through the ordinary page (/room/ROOM?name=P1&autojoin=1&rawaudio=1).
// 4. P2 publishes with WHIP from its own Chromium: a sendonly RTCPeerConnection whose offer is POSTed to
//    /whip/ROOM?name=WHIP-P2 with the bearer token (a 201 with Location and an SDP answer is required).
//    P1's roster must then list WHIP-P2: the publisher is a participant of the room.
// 5. A third Chromium opens /watch/ROOM?token=wrong (the page must stop in state error and name the
//    token), then /watch/ROOM?token=…: the page must reach body[data-state=playing], show the
//    room name, play frames in #video, show both colours in the two grid tiles (P1 left, the publisher
//    right; nearest palette colour, no channel more than MAX_CHANNEL_SHIFT off) and play both tones in its
//    audio (WebAudio spectrum of #video's stream, each TONE_OVER_FLOOR_DB above the median): the full mix.
//    P1's roster lists the viewer, as watching. Then the viewer's resource is DELETEd from outside (as when the
//    server drops it) and the page must reconnect by itself: playing again, with a new resource.
// 6. P2 DELETEs its resource (200) and P1's roster drops WHIP-P2.
// The pure helpers of watch.js (Link parsing, trickle fragments, page parameters) are checked first, with
// no browser. On failure the server log, each page's console and screenshots are kept in a temp dir.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, MCU_BIN } from './harness.js';
import {
  Fatal, PARTICIPANTS, nearestColour, pageMeasureTones, toneVerdict, pageSampleColours, pageVideoState, tilePatches, writeFixtures,
} from './helpers.js';
import { parseIceServerLinks, parseWatchParams, trickleFragment } from '../static/watch.js';
import { pickIceServers } from '../static/params.js';
import { routeOf } from '../static/stats.js';

const TOKEN = 'e2e-whip-token';
const TEST_TIMEOUT_MS = 120000;
const MAX_CHANNEL_SHIFT = 70;
const TONE_OVER_FLOOR_DB = 30;
/** P1 joins through the page, P2 publishes with WHIP. */
const [P1, P2] = PARTICIPANTS;
const WHIP_NAME = `WHIP-${P2.name}`;

const h = new Harness('watch');
after(() => h.tearDown());

async function describeAll() {
  const out = [];
  for (const peer of h.peers) {
    try {
      const s = await peer.page.evaluate(() => ({
        url: location.pathname,
        state: document.body.dataset.state,
        status: (document.getElementById('state') || document.getElementById('status'))?.textContent?.trim(),
        watch: /** @type {any} */ (window).mcuWatch ? { ...(/** @type {any} */ (window).mcuWatch), pc: undefined } : undefined,
        whip: /** @type {any} */ (window).__whip?.pc?.connectionState,
      }));
      const v = await peer.page.evaluate(pageVideoState, s.url.startsWith('/watch/') ? '#video' : '#composite');
      out.push(`${peer.name}: ${JSON.stringify(s)} video ${JSON.stringify(v)}\n    console: ${peer.console.slice(-6).join('\n    ')}`);
    } catch (err) {
      out.push(`${peer.name}: cannot inspect: ${err.message}`);
    }
  }
  return `${out.join('\n')}\n${h.serverTail(20)}`;
}

/**
 * Runs in the publisher's page: publishes camera and microphone with WHIP (sendonly, the offer sent once
 * ICE gathering completes) and keeps the connection in window.__whip.
 * @param {{url: string, token: string}} arg
 */
async function pagePublishWHIP({ url, token }) {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false }, video: true,
  });
  const pc = new RTCPeerConnection();
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => {
    if (pc.iceGatheringState === 'complete') r(undefined);
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r(undefined));
    setTimeout(r, 3000);
  });
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
    body: pc.localDescription.sdp,
  });
  const answer = await res.text();
  const location = res.headers.get('Location');
  /** @type {any} */ (window).__whip = { pc, stream, location, status: res.status };
  if (res.status !== 201) return { status: res.status, body: answer };
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  return { status: res.status, location, contentType: res.headers.get('Content-Type') };
}

test('watch.js helpers', () => {
  assert.deepEqual(parseIceServerLinks(
    '<stun:stun.example.org:3478>; rel="ice-server", <turn:t.example.org:3478?transport=udp>; rel="ice-server"; '
    + 'username="al\\"ice"; credential="p,w"; credential-type="password", </other>; rel="next"',
  ), [
    { urls: 'stun:stun.example.org:3478' },
    { urls: 'turn:t.example.org:3478?transport=udp', username: 'al"ice', credential: 'p,w' },
  ]);
  assert.deepEqual(parseIceServerLinks(null), []);
  assert.equal(
    trickleFragment({ ufrag: 'u', pwd: 'p', mid: '0', candidates: ['candidate:1 1 udp 1 127.0.0.1 9 typ host'], end: true }),
    'a=ice-ufrag:u\r\na=ice-pwd:p\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\na=end-of-candidates\r\n',
  );
  const p = parseWatchParams(new URL('http://h/watch/a%2Fb%20c?token=t&name=Rec&debug=1'));
  assert.deepEqual(p, { room: 'a/b c', name: 'Rec', token: 't', debug: true, relay: false, turn: null });
  assert.equal(parseWatchParams(new URL('http://h/room/x')).room, '');
  assert.deepEqual(parseWatchParams(new URL('http://h/watch/r?relay=1&turn=tls')).turn, 'tls');
  // ?turn= keeps one relay path; the stats panel names the route.
  const servers = [
    { urls: ['stun:s.example.org'] },
    { urls: ['turn:t.example.org:3478?transport=udp', 'turn:t.example.org:3478?transport=tcp', 'turns:t.example.org:5349?transport=tcp'], username: 'u', credential: 'c' },
  ];
  assert.deepEqual(pickIceServers(servers, null), servers);
  assert.deepEqual(pickIceServers(servers, 'tcp'), [{ urls: ['turn:t.example.org:3478?transport=tcp'], username: 'u', credential: 'c' }]);
  assert.deepEqual(pickIceServers(servers, 'tls'), [{ urls: ['turns:t.example.org:5349?transport=tcp'], username: 'u', credential: 'c' }]);
  assert.deepEqual(pickIceServers([{ urls: 'turn:t.example.org' }], 'udp'), [{ urls: ['turn:t.example.org'] }]);
  assert.equal(routeOf({ candidateType: 'relay', protocol: 'udp', relayProtocol: 'tls' }), 'relay over TLS');
  assert.equal(routeOf({ candidateType: 'host', protocol: 'tcp' }), 'direct TCP');
  assert.equal(routeOf({ candidateType: 'srflx', protocol: 'udp' }), 'direct UDP');
  assert.equal(routeOf(null), null);
});

test('a WHIP publisher joins the room and /watch shows and plays everyone', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const deadline = Date.now() + TEST_TIMEOUT_MS;
  const dir = await h.setUp();
  const [f1, f2] = await Promise.all([P1, P2].map((p) => writeFixtures(dir, p)));
  const addr = await h.startServer(deadline, [], { MCU_WHIP_TOKEN: TOKEN });
  const room = `watch-${process.pid}-${Date.now().toString(36)}`;
  const [page1, pub, viewer] = await Promise.all([
    h.launch(P1.name, f1, deadline), h.launch(P2.name, f2, deadline), h.launch('viewer', f1, deadline),
  ]);
  t.diagnostic(`Chromium ${page1.browser.version()}, server ${MCU_BIN} at ${addr}`);

  // 3. P1 through the page.
  await page1.page.goto(`http://${addr}/room/${room}?name=${P1.name}&autojoin=1&rawaudio=1`, { timeout: h.budget(deadline, 15000) });
  await h.wait(`${P1.name} to join`, () => page1.page.evaluate(() => document.body.dataset.state).then((s) => {
    if (s === 'error' || s === 'left') throw new Fatal(`page state is ${s}`);
    return s === 'joined';
  }), { timeoutMs: h.budget(deadline, 20000), describe: describeAll });

  // 4. P2 with WHIP; first a wrong token is refused.
  await pub.page.goto(`http://${addr}/`, { timeout: h.budget(deadline, 15000) });
  const whipURL = `/whip/${encodeURIComponent(room)}?name=${WHIP_NAME}`;
  const refused = await pub.page.evaluate(pagePublishWHIP, { url: whipURL, token: 'wrong' });
  assert.equal(refused.status, 401, `WHIP with a wrong token: ${JSON.stringify(refused)}`);
  await pub.page.evaluate(() => /** @type {any} */ (window).__whip.pc.close());
  const published = await pub.page.evaluate(pagePublishWHIP, { url: whipURL, token: TOKEN });
  assert.equal(published.status, 201, `WHIP POST: ${JSON.stringify(published)}\n${h.serverTail(15)}`);
  assert.match(published.location, new RegExp(`^/whip/${room}/[A-Z2-7]{20,}$`), 'Location');
  assert.equal(published.contentType, 'application/sdp');
  const rosterNames = () => page1.page.evaluate(() => [...document.querySelectorAll('#roster li.participant .name')].map((e) => e.textContent || ''));
  await h.wait(`${P1.name}'s roster to list ${WHIP_NAME}`, async () => (await rosterNames()).some((n) => n.startsWith(WHIP_NAME)),
    { timeoutMs: h.budget(deadline, 15000), describe: async () => `${JSON.stringify(await rosterNames())}\n${await describeAll()}` });
  await h.wait('the WHIP connection to connect', () => pub.page.evaluate(() => /** @type {any} */ (window).__whip.pc.connectionState === 'connected'),
    { timeoutMs: h.budget(deadline, 15000), describe: describeAll });

  // 5. The viewer page; with a wrong token it stops at once and says why.
  await viewer.page.goto(`http://${addr}/watch/${room}?token=wrong`, { timeout: h.budget(deadline, 15000) });
  const refusedText = await h.wait('the watch page with a wrong token to show an error', () => viewer.page.evaluate(() => (
    document.body.dataset.state === 'error' ? document.getElementById('state')?.textContent : null)),
  { timeoutMs: h.budget(deadline, 10000), describe: describeAll });
  assert.match(refusedText, /token/i, 'the error names the token');
  await viewer.page.goto(`http://${addr}/watch/${room}?token=${TOKEN}&debug=1`, { timeout: h.budget(deadline, 15000) });
  await h.wait('the watch page to play (body[data-state=playing])', () => viewer.page.evaluate(() => document.body.dataset.state).then((s) => {
    if (s === 'error') throw new Fatal('the watch page is in state error');
    return s === 'playing';
  }), { timeoutMs: h.budget(deadline, 20000), describe: describeAll });
  const title = await viewer.page.evaluate(() => document.getElementById('room-title')?.textContent);
  assert.equal(title, room, 'the watch page shows the room name');
  const first = await h.wait('#video to show frames', async () => {
    const v = await viewer.page.evaluate(pageVideoState, '#video');
    return v.width > 0 && v.time > 0 && v.tracks.includes('audio:live') ? v : null;
  }, { timeoutMs: h.budget(deadline, 20000), describe: describeAll });
  await h.wait('#video to keep playing', async () => {
    const v = await viewer.page.evaluate(pageVideoState, '#video');
    return v.time > first.time + 0.5 && !v.paused && !v.muted ? v : null;
  }, { timeoutMs: h.budget(deadline, 10000), describe: describeAll });

  const patches = tilePatches(2);
  let seen = null;
  const colours = await h.wait(`the viewer to see ${P1.name} (red) | ${WHIP_NAME} (green)`, async () => {
    const s = await viewer.page.evaluate(pageSampleColours, { selector: '#video', patches });
    const got = s.colours.map((c) => ({ rgb: c, ...nearestColour(c) }));
    seen = `${s.width}x${s.height}: ${got.map((g) => `rgb(${g.rgb}) ~ ${PARTICIPANTS[g.index]?.name} (off ${g.maxChannel})`).join('; ')}`;
    return got.length === 2 && got[0].index === 0 && got[1].index === 1 && got.every((g) => g.maxChannel <= MAX_CHANNEL_SHIFT) ? seen : null;
  }, { timeoutMs: h.budget(deadline, 20000), intervalMs: 250, describe: async () => `${seen}\n${await describeAll()}` });
  t.diagnostic(`viewer sees ${colours}`);

  let heard = null;
  const tones = await h.wait(`the viewer to hear ${P1.hz} Hz and ${P2.hz} Hz`, async () => {
    const r = await viewer.page.evaluate(pageMeasureTones, { selector: '#video', freqs: [P1.hz, P2.hz], durationMs: 1000 });
    if (r.error) {
      heard = r.error;
      return null;
    }
    const v = toneVerdict(r, { heard: [P1.hz, P2.hz], overFloorDb: TONE_OVER_FLOOR_DB });
    heard = v.text;
    return v.ok ? heard : null;
  }, { timeoutMs: h.budget(deadline, 25000), intervalMs: 100, describe: async () => `${heard}\n${await describeAll()}` });
  t.diagnostic(`viewer hears ${tones}`);

  // The viewer reads the room's chat (read-only): P1 writes, the watch page shows it as text.
  const said = `hello viewers <b>${Date.now()}</b>`;
  await page1.page.fill('#chat-input', said);
  await page1.page.click('#chat-form button[type=submit]');
  const shown = await h.wait('the watch page to show P1\'s chat message', () => viewer.page.evaluate(() => {
    const li = document.querySelector('#chat li.chat-chat');
    return li ? { from: li.querySelector('.from')?.textContent, text: li.querySelector('.text')?.textContent, tags: li.querySelectorAll('b').length } : null;
  }), { timeoutMs: h.budget(deadline, 10000), describe: describeAll });
  assert.deepEqual(shown, { from: P1.name, text: said, tags: 0 }, 'the viewer shows the message as plain text from P1');
  const viewerListed = (await rosterNames()).some((n) => n.startsWith('WHEP') && n.endsWith('(watching)'));
  assert.ok(viewerListed, `${P1.name}'s roster does not list the viewer as watching: ${JSON.stringify(await rosterNames())}`);

  // The page reconnects when its stream ends: here the server drops the viewer's resource.
  const gone = await viewer.page.evaluate(() => /** @type {any} */ (window).mcuWatch.resource);
  const t0 = Date.now();
  const dropped = await fetch(gone, { method: 'DELETE', headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(dropped.status, 200, `DELETE ${gone} from outside`);
  await h.wait('the watch page to reconnect with a new resource', () => viewer.page.evaluate((old) => {
    const w = /** @type {any} */ (window).mcuWatch;
    return w.state === 'playing' && w.resource && w.resource !== old;
  }, gone), { timeoutMs: h.budget(deadline, 30000), describe: describeAll });
  t.diagnostic(`the watch page reconnected in ${Date.now() - t0} ms`);

  // 6. DELETE ends the WHIP session.
  const del = await pub.page.evaluate(async ({ token }) => {
    const w = /** @type {any} */ (window).__whip;
    const r = await fetch(w.location, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    w.pc.close();
    return r.status;
  }, { token: TOKEN });
  assert.equal(del, 200, 'DELETE of the WHIP resource');
  await h.wait(`${P1.name}'s roster to drop ${WHIP_NAME}`, async () => (await rosterNames()).every((n) => !n.startsWith(WHIP_NAME)),
    { timeoutMs: h.budget(deadline, 10000), describe: async () => JSON.stringify(await rosterNames()) });

  h.passed = true;
});
