// Browser end-to-end test of a SIP endpoint with video: the real mcu binary with SIP on, one headless
// Chromium participant, and a SIP call whose signalling this test speaks over UDP and whose media is
// plain RTP from Debian's ffmpeg (H.264 and PCMU).
//
// How to run (the Makefile's e2e target runs every *.test.js here the same way):
//
//   make build && cd web/e2e && npm ci && MCU_BIN=../../bin/mcu node --test sip.test.js
//
// What it does:
// 1. Starts the server on 127.0.0.1 with -sip-port at a free port and -rtp-address 127.0.0.1.
// 2. P1 (red, 440 Hz) joins ROOM through the ordinary page.
// 3. The test sends INVITE sip:ROOM@127.0.0.1 offering PCMU and H.264 (packetization-mode 1), takes the
//    200 OK's SDP (the server's RTP ports) and sends ACK.
// 4. ffmpeg streams a blue 320x180 picture (H.264 baseline) and a 1000 Hz tone (PCMU) to those ports.
// 5. P1's composite must show the SIP caller's tile in blue (its only tile: P1 never sees itself) and
//    play its 1000 Hz tone; P1's roster lists the caller by its display name.
// 6. BYE ends the call (200) and P1's roster drops the caller.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { Harness } from './harness.js';
import {
  Fatal, PARTICIPANTS, freePort, nearestColour, pageMeasureTones, toneVerdict, pageSampleColours, pageVideoState, tilePatches,
  writeFixtures, SipCall, sipOfferSDP,
} from './helpers.js';

const FFMPEG = process.env.FFMPEG || '/usr/bin/ffmpeg';
const TEST_TIMEOUT_MS = 120000;
const MAX_CHANNEL_SHIFT = 70;
const TONE_OVER_FLOOR_DB = 30;
/** P1's own tone must be this far under the caller's in P1's mix (mix-minus). */
const OWN_TONE_BELOW_DB = 20;
/** P1 joins through the page; the SIP caller sends P3's colour and tone (blue, 1000 Hz). */
const [P1, , P3] = PARTICIPANTS;
const CALLER = 'Desk Phone';

const h = new Harness('sip');
/** @type {import('node:dgram').Socket|null} */
let sipSocket = null;

after(async () => {
  sipSocket?.close();
  await h.tearDown();
});

async function describeAll() {
  const out = [];
  for (const peer of h.peers) {
    try {
      const s = await peer.page.evaluate(() => ({ state: document.body.dataset.state, status: document.getElementById('status')?.textContent?.trim() }));
      const v = await peer.page.evaluate(pageVideoState, '#composite');
      out.push(`${peer.name}: ${JSON.stringify(s)} video ${JSON.stringify(v)}\n    console: ${peer.console.slice(-6).join('\n    ')}`);
    } catch (err) {
      out.push(`${peer.name}: cannot inspect: ${err.message}`);
    }
  }
  const ffmpeg = h.children.find((c) => c.name === 'ffmpeg');
  return `${out.join('\n')}\nffmpeg: ${ffmpeg ? ffmpeg.log.join('').slice(-600) : 'not started'}\n${h.serverTail(20)}`;
}

/** The audio and video ports and the address of an SDP answer. */
function parseAnswer(sdp) {
  const ip = /c=IN IP4 ([0-9.]+)/.exec(sdp)?.[1];
  const audio = Number(/m=audio (\d+) /.exec(sdp)?.[1]);
  const video = Number(/m=video (\d+) /.exec(sdp)?.[1]);
  return { ip, audio, video };
}

test('a SIP caller with H.264 video is a tile in the browser grid and is heard', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const deadline = Date.now() + TEST_TIMEOUT_MS;
  assert.ok(existsSync(FFMPEG), `no ffmpeg at ${FFMPEG} (make deps-test installs it)`);
  const f1 = await writeFixtures(await h.setUp(), P1);
  const sipPort = await freePort();
  const addr = await h.startServer(deadline, ['-sip-port', String(sipPort), '-sip-host', '127.0.0.1', '-rtp-address', '127.0.0.1']);
  const room = `sip-${process.pid}-${Date.now().toString(36)}`;
  const page1 = await h.launch(P1.name, f1, deadline);
  t.diagnostic(`Chromium ${page1.browser.version()}, server at ${addr}, SIP on udp/${sipPort}`);

  await page1.page.goto(`http://${addr}/room/${room}?name=${P1.name}&autojoin=1&rawaudio=1`, { timeout: h.budget(deadline, 15000) });
  await h.wait(`${P1.name} to join`, () => page1.page.evaluate(() => document.body.dataset.state).then((s) => {
    if (s === 'error' || s === 'left') throw new Fatal(`page state is ${s}`);
    return s === 'joined';
  }), { timeoutMs: h.budget(deadline, 20000), describe: describeAll });

  // The call.
  const sock = createSocket('udp4');
  sipSocket = sock;
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const call = new SipCall(sock, sipPort, room, CALLER);
  const [audioIn, videoIn] = [await freePort(), await freePort()];
  call.request('INVITE', 1, sipOfferSDP(audioIn, videoIn));
  const ok = await call.finalResponse(1, 'INVITE', h.budget(deadline, 10000));
  assert.equal(ok.status, 200, `INVITE answered ${ok.msg.split('\r\n')[0]}\n${h.serverTail(15)}`);
  call.toTag = /\r\nTo:[^\r\n]*;tag=([^;\s\r\n]+)/i.exec(ok.msg)?.[1] || '';
  const sdp = ok.msg.slice(ok.msg.indexOf('\r\n\r\n') + 4);
  const ans = parseAnswer(sdp);
  assert.ok(ans.ip && ans.audio > 0 && ans.video > 0, `answer SDP without audio and video ports:\n${sdp}`);
  assert.match(sdp, /a=rtpmap:0 PCMU\/8000/, 'the answer keeps PCMU');
  assert.match(sdp, /a=rtpmap:96 H264\/90000/i, 'the answer keeps H.264');
  call.request('ACK', 1);
  t.diagnostic(`call answered: media at ${ans.ip} audio ${ans.audio} video ${ans.video}`);

  // The caller's media: a blue picture and a 1000 Hz tone, as plain RTP from ffmpeg.
  const [r, g, b] = P3.rgb;
  const colour = `0x${[r, g, b].map((x) => x.toString(16).padStart(2, '0')).join('')}`;
  h.spawnChild('ffmpeg', FFMPEG, [
    '-hide_banner', '-loglevel', 'warning', '-nostdin',
    '-re', '-f', 'lavfi', '-i', `color=c=${colour}:s=320x180:r=25`,
    '-re', '-f', 'lavfi', '-i', `sine=frequency=${P3.hz}:sample_rate=8000`,
    '-map', '0:v', '-c:v', 'libx264', '-profile:v', 'baseline', '-tune', 'zerolatency', '-preset', 'ultrafast',
    '-g', '25', '-pix_fmt', 'yuv420p', '-payload_type', '96', '-f', 'rtp', `rtp://${ans.ip}:${ans.video}?pkt_size=1200`,
    '-map', '1:a', '-c:a', 'pcm_mulaw', '-ar', '8000', '-ac', '1', '-payload_type', '0', '-f', 'rtp', `rtp://${ans.ip}:${ans.audio}`,
  ]);

  const rosterNames = () => page1.page.evaluate(() => [...document.querySelectorAll('#roster li.participant .name')].map((e) => e.textContent || ''));
  await h.wait(`${P1.name}'s roster to list "${CALLER}"`, async () => (await rosterNames()).some((n) => n.startsWith(CALLER)),
    { timeoutMs: h.budget(deadline, 15000), describe: async () => `${JSON.stringify(await rosterNames())}\n${await describeAll()}` });

  const patches = tilePatches(1);
  let seen = null;
  const colours = await h.wait(`${P1.name} to see the SIP caller's tile in blue`, async () => {
    const s = await page1.page.evaluate(pageSampleColours, { selector: '#composite', patches });
    const got = s.colours.map((c) => ({ rgb: c, ...nearestColour(c) }));
    seen = `${s.width}x${s.height}: ${got.map((x) => `rgb(${x.rgb}) ~ ${PARTICIPANTS[x.index]?.name} (off ${x.maxChannel})`).join('; ')}`;
    return got.length === 1 && got[0].index === 2 && got[0].maxChannel <= MAX_CHANNEL_SHIFT ? seen : null;
  }, { timeoutMs: h.budget(deadline, 25000), intervalMs: 250, describe: async () => `${seen}\n${await describeAll()}` });
  t.diagnostic(`${P1.name} sees ${colours}`);

  let heard = null;
  const tones = await h.wait(`${P1.name} to hear the caller's ${P3.hz} Hz`, async () => {
    const res = await page1.page.evaluate(pageMeasureTones, { selector: '#composite', freqs: [P3.hz, P1.hz], durationMs: 1000 });
    if (res.error) {
      heard = res.error;
      return null;
    }
    const v = toneVerdict(res, { heard: [P3.hz], absent: [P1.hz], overFloorDb: TONE_OVER_FLOOR_DB, belowDb: OWN_TONE_BELOW_DB });
    heard = v.text;
    return v.ok ? heard : null;
  }, { timeoutMs: h.budget(deadline, 25000), intervalMs: 100, describe: async () => `${heard}\n${await describeAll()}` });
  t.diagnostic(`${P1.name} hears ${tones}`);

  // BYE: the caller leaves the roster.
  call.request('BYE', 2);
  const bye = await call.finalResponse(2, 'BYE', h.budget(deadline, 10000));
  assert.equal(bye.status, 200, `BYE answered ${bye.msg.split('\r\n')[0]}`);
  await h.wait(`${P1.name}'s roster to drop "${CALLER}"`, async () => (await rosterNames()).every((n) => !n.startsWith(CALLER)),
    { timeoutMs: h.budget(deadline, 10000), describe: async () => JSON.stringify(await rosterNames()) });

  h.passed = true;
});
