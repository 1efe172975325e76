// Self-check of the end-to-end test's own instruments, needing no MCU server (~10 s).
//
//   cd web/e2e && npm ci && node --test fixtures.test.js
//
// 1. The generators: the WAV header parses back to 16-bit mono 48 kHz and holds the one tone asked for (a
//    Goertzel DFT finds it at full amplitude and nothing 5 Hz or 220 Hz away); the Y4M header and planes
//    parse back.
// 2. The measuring code, in real Chromium (Debian's /usr/bin/chromium, one process per participant's files):
//    a throwaway page served from this process shows getUserMedia (the fake camera and microphone fed from
//    the generated files) in a video element, and sends it through a pair of in-page RTCPeerConnections
//    forced to H.264 and Opus into a second video element. pageSampleColours must read each participant's
//    colour back, nearest palette match, from the local preview (exactly, within a few units) and from the
//    H.264 copy (within H.264's shift); pageMeasureTones must find the participant's tone in both, and the
//    other participants' tones at least ABSENT_DB below it. That proves the instruments of
//    conference.test.js before any server exists.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import {
  CHROMIUM, PARTICIPANTS, PALETTE, chromiumArgs, makeWav, makeY4M, nearestColour, pageMeasureTones,
  pageSampleColours, pageVideoState, parseWav, parseY4M, rgbToYuv601, tilePatches, toneAmplitude, waitFor,
  writeFixtures,
} from './helpers.js';

/** How far below the sent tone an absent tone must measure; conference.test.js uses the same rule. */
const ABSENT_DB = 25;

const PAGE = `<!doctype html><meta charset="utf-8"><title>fixture check</title>
<video id="local" autoplay muted playsinline></video><video id="remote" autoplay muted playsinline></video>
<script type="module">
const stream = await navigator.mediaDevices.getUserMedia({
  video: { width: 640, height: 360 },
  audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
});
document.getElementById('local').srcObject = stream;
const a = new RTCPeerConnection();
const b = new RTCPeerConnection();
a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
const remote = new MediaStream();
b.ontrack = (e) => {
  remote.addTrack(e.track);
  const v = document.getElementById('remote');
  v.srcObject = remote;
  v.play().catch(() => {});
};
for (const t of stream.getTracks()) {
  const tr = a.addTransceiver(t, { direction: 'sendonly' });
  if (t.kind === 'video') {
    const h264 = RTCRtpSender.getCapabilities('video').codecs.filter((c) => c.mimeType === 'video/H264'
      && /profile-level-id=42e01f/.test(c.sdpFmtpLine || '') && /packetization-mode=1/.test(c.sdpFmtpLine || ''));
    if (!h264.length) throw new Error('no H.264 42e01f');
    tr.setCodecPreferences(h264);
  }
}
await a.setLocalDescription();
await b.setRemoteDescription(a.localDescription);
await b.setLocalDescription();
await a.setRemoteDescription(b.localDescription);
window.pcs = [a, b];
document.body.dataset.ready = '1';
</script>`;

let dir;
let server;
let base;
const browsers = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcu-e2e-fixtures-'));
  server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}/`;
});

after(async () => {
  await Promise.allSettled(browsers.map((b) => b.close()));
  server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('WAV generator: header and tone', () => {
  for (const p of PARTICIPANTS) {
    const w = parseWav(makeWav({ hz: p.hz, seconds: 2, amplitude: 0.3 }));
    assert.deepEqual(
      { format: w.format, channels: w.channels, rate: w.rate, bits: w.bits, byteRate: w.byteRate, blockAlign: w.blockAlign },
      { format: 1, channels: 1, rate: 48000, bits: 16, byteRate: 96000, blockAlign: 2 },
    );
    assert.equal(w.dataSize, 2 * 96000);
    assert.equal(w.riffSize, 36 + w.dataSize);
    assert.equal(w.samples.length, 96000);
    const at = toneAmplitude(w.samples, w.rate, p.hz);
    assert.ok(Math.abs(at - 0.3) < 0.001, `${p.hz} Hz amplitude ${at}`);
    for (const off of [-220, -5, 5, 220]) {
      const a = toneAmplitude(w.samples, w.rate, p.hz + off);
      assert.ok(a < 0.001, `${p.hz + off} Hz should be absent, amplitude ${a}`);
    }
  }
});

test('Y4M generator: header and planes', () => {
  for (const p of PARTICIPANTS) {
    const y = parseY4M(makeY4M({ rgb: p.rgb, frames: 2 }));
    assert.deepEqual([y.width, y.height, y.fps, y.chroma, y.frames], [640, 360, '30:1', '420jpeg', 2]);
    const [Y, U, V] = rgbToYuv601(p.rgb);
    assert.ok(y.y.every((v) => v === Y) && y.u.every((v) => v === U) && y.v.every((v) => v === V));
    assert.equal(y.u.length, 320 * 180);
  }
  // Known BT.601 limited-range values: white, black, pure red.
  assert.deepEqual(rgbToYuv601([255, 255, 255]), [235, 128, 128]);
  assert.deepEqual(rgbToYuv601([0, 0, 0]), [16, 128, 128]);
  assert.deepEqual(rgbToYuv601([255, 0, 0]), [81, 90, 240]);
});

test('Chromium fake capture: colour and tone read back, locally and after H.264/Opus', { timeout: 60000 }, async (t) => {
  const results = await Promise.all(PARTICIPANTS.map(async (p, i) => {
    const files = await writeFixtures(dir, p);
    // The files must be what the generators produce.
    assert.equal(parseWav(await readFile(files.wav)).rate, 48000);
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: chromiumArgs(files), timeout: 30000 });
    browsers.push(browser);
    const page = await browser.newPage();
    await page.goto(base, { timeout: 15000 });
    await page.waitForFunction(() => document.body.dataset.ready === '1', null, { timeout: 15000 });
    const out = { name: p.name, version: browser.version() };
    for (const sel of ['#local', '#remote']) {
      // Frames flowing: size known and time advancing.
      const first = await waitFor(`${p.name} ${sel} to play`, () => page.evaluate(pageVideoState, sel).then((s) => s.width > 0 && s.time > 0 && s));
      await waitFor(`${p.name} ${sel} time to advance`, () => page.evaluate(pageVideoState, sel).then((s) => s.time > first.time + 0.2 && s));
      // The picture is one colour: sample the single tile's centre, the way the grid check samples tiles.
      const colour = await waitFor(`${p.name} ${sel} to show its colour`, async () => {
        const s = await page.evaluate(pageSampleColours, { selector: sel, patches: tilePatches(1) });
        const m = s.colours.length ? nearestColour(s.colours[0]) : null;
        return m && m.index === i && m.maxChannel <= 45 ? { rgb: s.colours[0], ...m, size: `${s.width}x${s.height}` } : null;
      }, { timeoutMs: 15000, intervalMs: 250 });
      const tones = await waitFor(`${p.name} ${sel} to carry its tone`, async () => {
        const r = await page.evaluate(pageMeasureTones, { selector: sel, freqs: PARTICIPANTS.map((q) => q.hz), durationMs: 1000 });
        if (r.error) return null;
        const own = r.tones[i].db;
        const others = r.tones.filter((_, k) => k !== i).map((x) => x.db);
        return own > r.floorDb + 40 && others.every((d) => d <= own - ABSENT_DB) ? r : null;
      }, { timeoutMs: 15000, intervalMs: 100 });
      out[sel] = { colour, tones };
    }
    return out;
  }));
  for (const r of results) {
    t.diagnostic(`${r.name} (Chromium ${r.version})`);
    for (const sel of ['#local', '#remote']) {
      const { colour, tones } = r[sel];
      const p = PARTICIPANTS.find((q) => q.name === r.name);
      t.diagnostic(`  ${sel} ${colour.size}: sent rgb(${p.rgb}) read rgb(${colour.rgb}), max channel shift ${colour.maxChannel}`);
      t.diagnostic(`  ${sel} tones ${tones.tones.map((x) => `${x.hz}Hz=${x.db}dB@${x.peakHz}`).join(' ')} floor ${tones.floorDb}dB (${tones.frames} spectra, ${tones.sampleRate} Hz)`);
    }
    // The local preview is the uncompressed file: it must read back almost exactly.
    assert.ok(r['#local'].colour.maxChannel <= 8, `${r.name} local colour rgb(${r['#local'].colour.rgb}) off by ${r['#local'].colour.maxChannel}`);
  }
  // Sanity of the palette itself: the colours are far apart compared with H.264's shift.
  for (let a = 0; a < PALETTE.length; a++) {
    for (let b = a + 1; b < PALETTE.length; b++) assert.ok(nearestColour(PALETTE[a], [PALETTE[b]]).dist > 150);
  }
});
