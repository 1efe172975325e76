// Browser end-to-end test of the embedded TURN server: three headless Chromium participants that may use
// nothing but the relay (?relay=1: iceTransportPolicy "relay"), each over another transport to it (UDP,
// TCP, TLS), meet a SIP caller and a WHEP viewer in one room served over HTTPS, and everyone sees and
// hears everyone: "it just connects", proved by content (colours and tones), never by timing.
//
// How to run (the Makefile's e2e target runs every *.test.js here the same way):
//
//   make build && cd web/e2e && npm ci && MCU_BIN=../../bin/mcu node --test relay.test.js
//
// What it does:
// 1. Starts the server on 127.0.0.1 (Harness.startServer) with HTTPS (-tls-self-signed, its certificate
//    kept in a temp -tls-dir, -https on a free port), the embedded TURN server on free ports (-turn-port
//    for UDP and TCP, -turn-tls-port for TLS with the HTTPS certificate) allowed to relay to the MCU's
//    127.0.0.1 candidates (-turn-allow-loopback), and SIP on a free port with -rtp-address 127.0.0.1.
// 2. P1 (red, 440 Hz), P2 (green, 660 Hz) and P3 (blue, 1000 Hz) open
//    https://127.0.0.1:PORT/room/ROOM?...&relay=1 with &turn=udp, &turn=tcp and &turn=tls respectively
//    (the page keeps only that TURN URL of the "joined" message's iceServers), one after the other.
// 3. A SIP caller joins ROOM as sip.test.js does (INVITE/ACK over UDP from here, plain RTP from ffmpeg):
//    a yellow picture (H.264) and a 1280 Hz tone (PCMU). 1280 Hz: no harmonic or second- or third-order
//    intermodulation product of the three tones a page hears lands within 60 Hz of the page's own tone.
// 4. Every page must:
//    - run on the relay over its transport: window.mcuStats.route is exactly "relay over UDP", "relay
//      over TCP" or "relay over TLS", the stats panel's Route cell (#stats [data-stat=route]) shows the
//      same text, and the selected candidate pair's local candidate came from the TURN URL the page kept
//      (turn:127.0.0.1:TURNPORT?transport=udp|tcp, turns:127.0.0.1:TLSPORT?transport=tcp: the URLs name
//      the host the page was loaded from);
//    - see the other two participants' colours and the SIP caller's in its 3-tile grid, not its own
//      (nearest colour of each tile centre, no channel more than MAX_CHANNEL_SHIFT off);
//    - hear the other two tones and the caller's, each TONE_OVER_FLOOR_DB above the spectrum's median,
//      its own at least OWN_TONE_BELOW_DB under the weakest of them (mix-minus through the relay).
// 5. A WHEP viewer, /watch/ROOM over HTTPS without ?relay, plays all four tiles and all four tones, on a
//    direct route (the relay is only used when asked for).
// 6. /metrics (over HTTPS, checked against the server's own certificate) shows, while all are in the room,
//    mcu_turn_allocations >= 3 and mcu_turn_relayed_bytes_total above 0 in both directions.
//
// TURN over TLS and the self-signed certificate: Chromium (156) launched with --ignore-certificate-errors
// accepts the self-signed certificate for turns: as it does for the page (its TURN/TLS sockets are
// opened by the network service, which the switch applies to), and reports the relay as relayProtocol
// "tls". Without the switch (the page itself opened with Playwright's ignoreHTTPSErrors) Chromium opens
// TCP connections to the TURN TLS port and drops each during the handshake: no allocation, no relay
// candidate, the page never connects (and the server logs nothing about it, even at debug). No test CA
// or NSS database is needed.
//
// Seen on loopback: the relay sockets are bound to every interface and advertise the machine's address
// (the default route's source address) while their datagrams reach the MCU's 127.0.0.1 candidates from 127.0.0.1, so the
// MCU's check responses name 127.0.0.1 and Chromium often selects a peer-reflexive local candidate
// learnt on the TURN port (same relay port, its relayProtocol and TURN url kept). stats.js routeOf counts
// such a candidate as relayed.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { Harness, MCU_BIN } from './harness.js';
import {
  Fatal, PARTICIPANTS, freePort, freeTcpUdpPort, nearestColour, pageMeasureTones, pageSampleColours, pageVideoState, tilePatches,
  toneVerdict, writeFixtures, SipCall, sipOfferSDP,
} from './helpers.js';
import { routeOf } from '../static/stats.js';

const FFMPEG = process.env.FFMPEG || '/usr/bin/ffmpeg';
const TEST_TIMEOUT_MS = 120000;
/** A tile colour may differ from the sent one by this much per channel (H.264 + colour matrix). */
const MAX_CHANNEL_SHIFT = 70;
/**
 * A tone that should be heard must stand this far above the spectrum's median. 20, not conference.test.js's
 * 30: with three or four tones in one mix on a loaded 2-core machine (the audio mixer reporting dropped
 * frames and underruns) the median read -62 to -72 dB against tones at about -31 dB (the same with
 * -audio-bitrate 64000, so not Opus' bitrate), while a tone that is absent reads at the median (one's own
 * tone: within 1 dB of it). 20 dB over the median cannot be met by a missing tone.
 */
const TONE_OVER_FLOOR_DB = 20;
/** One's own tone must be at least this far under the weakest tone that should be heard (measured: 31-34 dB). */
const OWN_TONE_BELOW_DB = 20;
/** The SIP caller: a fourth colour and tone, far from the other three. */
const CALLER = { name: 'Desk Phone', rgb: [230, 200, 30], hz: 1280 };
/** Everyone in the room, in the order the grid shows them (join order): the pages, then the caller. */
const EVERYONE = [...PARTICIPANTS, CALLER];
const PALETTE4 = EVERYONE.map((p) => p.rgb);
const FREQS = EVERYONE.map((p) => p.hz);
/** Which relay path each page keeps (?turn=), and what its stats must call the route. */
const PATHS = [
  { turn: 'udp', route: 'relay over UDP' },
  { turn: 'tcp', route: 'relay over TCP' },
  { turn: 'tls', route: 'relay over TLS' },
];

const h = new Harness('relay');
/** @type {import('node:dgram').Socket|null} */
let sipSocket = null;
after(async () => {
  sipSocket?.close();
  await h.tearDown();
});

/**
 * Runs in a page: the selected candidate pair of the page's connection (the room's window.mcuPeer, or the
 * watch page's window.mcuWatch.pc), what the stats poller called the route, and the stats panel's cell.
 */
async function pageRoute() {
  const w = /** @type {any} */ (window);
  const pc = /** @type {RTCPeerConnection|null} */ (w.mcuPeer || w.mcuWatch?.pc || null);
  const cell = document.querySelector('#stats [data-stat="route"]');
  const out = { pc: pc ? `${pc.connectionState}/${pc.iceConnectionState}` : 'none', statsRoute: w.mcuStats ? w.mcuStats.route : undefined, cell: cell ? cell.textContent : null, local: null, remote: null };
  if (!pc) return out;
  const report = await pc.getStats();
  let pair = null;
  const pairs = [];
  report.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId) || pair;
    if (s.type === 'candidate-pair') pairs.push(s);
  });
  pair = pair || pairs.find((p) => p.nominated && p.state === 'succeeded') || null;
  if (!pair) return out;
  const l = report.get(pair.localCandidateId);
  const r = report.get(pair.remoteCandidateId);
  if (l) out.local = { candidateType: l.candidateType, protocol: l.protocol, relayProtocol: l.relayProtocol, address: l.address, port: l.port, url: l.url };
  if (r) out.remote = { candidateType: r.candidateType, protocol: r.protocol, address: r.address, port: r.port };
  return out;
}

/** Every page's state for failure messages, the ffmpeg log and the server log's tail. */
async function describeAll() {
  const out = [];
  for (const peer of h.peers) {
    try {
      const s = await peer.page.evaluate(() => ({
        url: location.pathname + location.search,
        state: document.body.dataset.state,
        status: (document.getElementById('status') || document.getElementById('state'))?.textContent?.trim(),
        roster: [...document.querySelectorAll('#roster li.participant .name')].map((e) => e.textContent || ''),
      }));
      const route = await peer.page.evaluate(pageRoute);
      const v = await peer.page.evaluate(pageVideoState, s.url.startsWith('/watch/') ? '#video' : '#composite');
      out.push(`${peer.name}: ${JSON.stringify(s)}\n    route ${JSON.stringify(route)}\n    video ${JSON.stringify(v)}\n    console: ${peer.console.slice(-6).join('\n    ')}`);
    } catch (err) {
      out.push(`${peer.name}: cannot inspect: ${err.message}`);
    }
  }
  const ffmpeg = h.children.find((c) => c.name === 'ffmpeg');
  return `${out.join('\n')}\nffmpeg: ${ffmpeg ? ffmpeg.log.join('').slice(-600) || '(no output)' : 'not started'}\n${h.serverTail(30)}`;
}

/** GET over HTTPS, trusting only the server's own (self-signed) certificate. */
function httpsGet(url, ca) {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s) => { body += s; }).on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** The sum of a metric's samples whose labels include every one of labels (Prometheus text). */
function metric(text, name, labels = {}) {
  let sum = null;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] || '';
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

/**
 * Polls until the video at selector shows the participants want (indexes into EVERYONE) in its n grid
 * tiles, in any order, each within MAX_CHANNEL_SHIFT, and resolves with what it saw (at the latest by deadline).
 */
function waitColours(peer, selector, n, want, deadline) {
  const patches = tilePatches(n);
  const names = want.map((k) => EVERYONE[k].name).join(', ');
  let seen = null;
  return h.wait(`${peer.name} to see ${names} in its ${n} tiles`, async () => {
    const s = await peer.page.evaluate(pageSampleColours, { selector, patches });
    const got = s.colours.map((c) => ({ rgb: c, ...nearestColour(c, PALETTE4) }));
    seen = `${s.width}x${s.height}: ${got.map((g) => `rgb(${g.rgb}) ~ ${EVERYONE[g.index]?.name} (off ${g.maxChannel})`).join('; ')}`;
    const sorted = (a) => [...a].sort((x, y) => x - y).join();
    return got.length === n && sorted(got.map((g) => g.index)) === sorted(want) && got.every((g) => g.maxChannel <= MAX_CHANNEL_SHIFT) ? seen : null;
  }, { timeoutMs: h.budget(deadline, 40000), intervalMs: 250, describe: async () => `saw ${seen}\n${await describeAll()}` });
}

/** Polls until the audio at selector holds the tones of heard (indexes into EVERYONE), and not those of absent. */
function waitTones(peer, selector, heard, absent, deadline) {
  let last = null;
  const what = `${peer.name} to hear ${heard.map((k) => `${EVERYONE[k].name} (${EVERYONE[k].hz} Hz)`).join(', ')}`
    + (absent.length ? ` but not ${absent.map((k) => `${EVERYONE[k].name} (${EVERYONE[k].hz} Hz)`).join(', ')}` : '');
  return h.wait(what, async () => {
    const r = await peer.page.evaluate(pageMeasureTones, { selector, freqs: FREQS, durationMs: 1000 });
    if (r.error) {
      last = r.error;
      return null;
    }
    const v = toneVerdict(r, {
      heard: heard.map((k) => FREQS[k]), absent: absent.map((k) => FREQS[k]), overFloorDb: TONE_OVER_FLOOR_DB, belowDb: OWN_TONE_BELOW_DB,
    });
    last = v.text;
    return v.ok ? v.text : null;
  }, { timeoutMs: h.budget(deadline, 40000), intervalMs: 100, describe: async () => `heard ${last}\n${await describeAll()}` });
}

test('routeOf: a peer-reflexive candidate learnt on a TURN port is relayed', () => {
  assert.equal(routeOf({ candidateType: 'relay', protocol: 'udp', relayProtocol: 'udp' }), 'relay over UDP');
  assert.equal(routeOf({ candidateType: 'prflx', protocol: 'udp', relayProtocol: 'tls', url: 'turns:127.0.0.1:5349?transport=tcp' }), 'relay over TLS');
  assert.equal(routeOf({ candidateType: 'prflx', protocol: 'udp', relayProtocol: 'tcp', url: 'turn:127.0.0.1:3478?transport=tcp' }), 'relay over TCP');
  assert.equal(routeOf({ candidateType: 'prflx', protocol: 'udp' }), 'direct UDP');
  assert.equal(routeOf({ candidateType: 'prflx', protocol: 'tcp' }), 'direct TCP');
});

test('relay-only browsers over TURN UDP, TCP and TLS meet a SIP caller and a viewer: all seen and heard', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const deadline = Date.now() + TEST_TIMEOUT_MS;
  assert.ok(existsSync(FFMPEG), `no ffmpeg at ${FFMPEG} (make deps-test installs it)`);
  const dir = await h.setUp();
  const files = await Promise.all(PARTICIPANTS.map((p) => writeFixtures(dir, p)));
  const tlsDir = join(dir, 'tls');
  const [httpsPort, turnPort, turnTLSPort, sipPort] = [await freePort(), await freeTcpUdpPort(), await freePort(), await freeTcpUdpPort()];
  const turnURLs = [
    `turn:127.0.0.1:${turnPort}?transport=udp`, `turn:127.0.0.1:${turnPort}?transport=tcp`, `turns:127.0.0.1:${turnTLSPort}?transport=tcp`,
  ];
  // The server and the browsers start together (the page is self-signed HTTPS: see the top of the file).
  const chromeArgs = ['--ignore-certificate-errors'];
  const [addr, ...peers] = await Promise.all([
    h.startServer(deadline, [
      '-https', `127.0.0.1:${httpsPort}`, '-tls-self-signed', '-tls-dir', tlsDir,
      '-turn-port', String(turnPort), '-turn-tls-port', String(turnTLSPort), '-turn-allow-loopback', 'true',
      '-sip-port', String(sipPort), '-sip-host', '127.0.0.1', '-rtp-address', '127.0.0.1',
    ]),
    ...PARTICIPANTS.map((p, i) => h.launch(p.name, files[i], deadline, chromeArgs)),
    h.launch('viewer', files[0], deadline, chromeArgs),
  ]);
  const viewer = /** @type {import('./harness.js').Peer} */ (peers.pop());
  const origin = `https://127.0.0.1:${httpsPort}`;
  const ca = await readFile(join(tlsDir, 'self-signed-cert.pem'));
  t.diagnostic(`Chromium ${viewer.browser.version()}, server ${MCU_BIN}: http ${addr}, ${origin}, TURN udp+tcp/${turnPort} tls/${turnTLSPort}, SIP udp/${sipPort}`);
  // Plain HTTP only redirects to HTTPS (the pages below are loaded over HTTPS directly).
  const redirect = await fetch(`http://${addr}/room/x`, { redirect: 'manual' });
  assert.equal(redirect.status, 308, `GET http://${addr}/room/x with TLS on`);
  assert.equal(redirect.headers.get('location'), `${origin}/room/x`, 'the redirect goes to the -https port');

  // 2. The three relay-only pages, one after the other (the grid's order is the join order).
  const room = `relay-${process.pid}-${Date.now().toString(36)}`;
  for (const [i, peer] of peers.entries()) {
    await peer.page.goto(`${origin}/room/${room}?name=${peer.name}&autojoin=1&rawaudio=1&relay=1&turn=${PATHS[i].turn}`, { timeout: h.budget(deadline, 20000) });
    await h.wait(`${peer.name} to join (body[data-state=joined])`, () => peer.page.evaluate(() => document.body.dataset.state).then((s) => {
      if (s === 'error' || s === 'left') throw new Fatal(`page state is ${s}`);
      return s === 'joined';
    }), { timeoutMs: h.budget(deadline, 20000), describe: describeAll });
  }

  // 3. The SIP caller: INVITE/ACK from here, a yellow picture and a 1280 Hz tone from ffmpeg.
  const sock = createSocket('udp4');
  sipSocket = sock;
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const call = new SipCall(sock, sipPort, room, CALLER.name);
  call.request('INVITE', 1, sipOfferSDP(await freePort(), await freePort()));
  const ok = await call.finalResponse(1, 'INVITE', h.budget(deadline, 10000));
  assert.equal(ok.status, 200, `INVITE answered ${ok.msg.split('\r\n')[0]}\n${h.serverTail(15)}`);
  call.toTag = /\r\nTo:[^\r\n]*;tag=([^;\s\r\n]+)/i.exec(ok.msg)?.[1] || '';
  const sdp = ok.msg.slice(ok.msg.indexOf('\r\n\r\n') + 4);
  const media = { ip: /c=IN IP4 ([0-9.]+)/.exec(sdp)?.[1], audio: Number(/m=audio (\d+) /.exec(sdp)?.[1]), video: Number(/m=video (\d+) /.exec(sdp)?.[1]) };
  assert.ok(media.ip && media.audio > 0 && media.video > 0, `answer SDP without audio and video ports:\n${sdp}`);
  call.request('ACK', 1);
  const colour = `0x${CALLER.rgb.map((x) => x.toString(16).padStart(2, '0')).join('')}`;
  h.spawnChild('ffmpeg', FFMPEG, [
    '-hide_banner', '-loglevel', 'warning', '-nostdin',
    '-re', '-f', 'lavfi', '-i', `color=c=${colour}:s=320x180:r=25`,
    // The tone at 0.3 of full scale, as loud as the pages' (lavfi's sine is at 1/8).
    '-re', '-f', 'lavfi', '-i', `aevalsrc=0.3*sin(2*PI*${CALLER.hz}*t):s=8000`,
    '-map', '0:v', '-c:v', 'libx264', '-profile:v', 'baseline', '-tune', 'zerolatency', '-preset', 'ultrafast',
    '-g', '25', '-pix_fmt', 'yuv420p', '-payload_type', '96', '-f', 'rtp', `rtp://${media.ip}:${media.video}?pkt_size=1200`,
    '-map', '1:a', '-c:a', 'pcm_mulaw', '-ar', '8000', '-ac', '1', '-payload_type', '0', '-f', 'rtp', `rtp://${media.ip}:${media.audio}`,
  ]);
  t.diagnostic(`SIP call answered: media at ${media.ip} audio ${media.audio} video ${media.video}`);

  // 5. The viewer, over HTTPS without ?relay.
  await viewer.page.goto(`${origin}/watch/${room}`, { timeout: h.budget(deadline, 20000) });

  // 4. and 5.: every page and the viewer, in parallel.
  const checkPage = async (peer, me) => {
    const path = PATHS[me];
    // The route, as the page's stats summary, its panel and the selected pair tell it.
    // (getStats may briefly lack the selected pair while Chromium switches pairs: wait for one.)
    let last = null;
    const route = await h.wait(`${peer.name}'s window.mcuStats.route to be "${path.route}"`, async () => {
      last = await peer.page.evaluate(pageRoute);
      return last.statsRoute === path.route && last.local ? last : null;
    }, { timeoutMs: h.budget(deadline, 40000), describe: async () => `last ${JSON.stringify(last)}\n${await describeAll()}` });
    assert.equal(route.local.url, turnURLs[me], `${peer.name}'s selected local candidate is not from ${turnURLs[me]}: ${JSON.stringify(route)}`);
    await peer.page.click('#stats-toggle');
    await h.wait(`${peer.name}'s stats panel Route cell to read "${path.route}"`, async () => {
      last = await peer.page.evaluate(pageRoute);
      return last.cell === path.route;
    }, { timeoutMs: h.budget(deadline, 10000), describe: async () => `last ${JSON.stringify(last)}` });
    const others = [0, 1, 2, 3].filter((k) => k !== me);
    const seen = await waitColours(peer, '#composite', 3, others, deadline);
    const heard = await waitTones(peer, '#composite', others, [me], deadline);
    const l = route.local;
    return `${peer.name} (${path.route}, local ${l.candidateType} ${l.address}:${l.port} via ${l.url}) sees ${seen}; hears ${heard}`;
  };
  const checkViewer = async () => {
    await h.wait('the watch page to play (body[data-state=playing])', () => viewer.page.evaluate(() => document.body.dataset.state).then((s) => {
      if (s === 'error') throw new Fatal('the watch page is in state error');
      return s === 'playing';
    }), { timeoutMs: h.budget(deadline, 30000), describe: describeAll });
    const seen = await waitColours(viewer, '#video', 4, [0, 1, 2, 3], deadline);
    const heard = await waitTones(viewer, '#video', [0, 1, 2, 3], [], deadline);
    let r = null;
    const route = await h.wait('the viewer\'s selected candidate pair', async () => {
      r = await viewer.page.evaluate(pageRoute);
      return routeOf(r.local);
    }, { timeoutMs: h.budget(deadline, 10000), describe: async () => `last ${JSON.stringify(r)}` });
    assert.ok(route.startsWith('direct '), `the viewer (no ?relay) is not on a direct route: ${JSON.stringify(r)}`);
    return `viewer (${route}) sees ${seen}; hears ${heard}`;
  };
  const results = await Promise.all([...peers.map(checkPage), checkViewer()]);
  for (const r of results) t.diagnostic(r);

  // 6. The relay in /metrics, while everyone is still in the room.
  let m = null;
  await h.wait('/metrics to show >= 3 TURN allocations and relayed bytes both ways', async () => {
    const res = await httpsGet(`${origin}/metrics`, ca);
    if (res.status !== 200) throw new Error(`GET /metrics: HTTP ${res.status}`);
    m = {
      allocations: metric(res.body, 'mcu_turn_allocations'),
      allocationsTotal: metric(res.body, 'mcu_turn_allocations_total'),
      toPeer: metric(res.body, 'mcu_turn_relayed_bytes_total', { direction: 'to_peer' }),
      fromPeer: metric(res.body, 'mcu_turn_relayed_bytes_total', { direction: 'from_peer' }),
      refused: res.body.split('\n').filter((l) => l.startsWith('mcu_turn_refused_total') && !/ 0$/.test(l)),
    };
    return m.allocations >= 3 && m.toPeer > 0 && m.fromPeer > 0;
  }, { timeoutMs: h.budget(deadline, 10000), describe: async () => `metrics ${JSON.stringify(m)}\n${h.serverTail(10)}` });
  t.diagnostic(`metrics: ${JSON.stringify(m)}`);

  call.request('BYE', 2);
  h.passed = true;
});
