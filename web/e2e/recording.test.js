// Browser end-to-end test of recording, live streaming, the operators' API and webhooks: the real mcu
// binary (with -api-keys, -admin-token, -record-dir and -webhook-urls), two headless Chromium participants,
// Debian's ffmpeg as the RTMP receiver and to read the files back, and a webhook receiver in this process
// that checks every signature with node:crypto, independently of the server's code.
//
//   make build && cd web/e2e && npm ci && MCU_BIN=../../bin/mcu node --test recording.test.js
//
// 1. P1's token grants roomRecord: its page shows the Record button, P2's does not. P1 records for 6 s;
//    both pages show the REC badge meanwhile.
// 2. The API lists the finished recording; a range request returns its first box; the downloaded file
//    holds H.264 and AAC, both participants' colours in their tiles and both tones.
// 3. A live stream started through the API reaches ffmpeg -listen with the same content; DELETE stops it.
// 4. The webhooks (room, participants, recording, stream) arrive, each signed over its body.
// 5. A second server recording a room automatically is killed with SIGKILL: the file it leaves plays in
//    ffprobe and in Chromium, and lacks at most the last 2 s (plus a moment) of what was recorded.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Harness } from './harness.js';
import { PARTICIPANTS, freePort, waitFor, gridRects, nearestColour, pageVideoState, sleep, toneAmplitude, writeFixtures } from './helpers.js';

const run = promisify(execFile);
const TEST_TIMEOUT_MS = 150000;
const KEY = 'e2ekey';
const SECRET = 'e2e-secret-of-at-least-32-bytes-long!!';
const ADMIN = 'e2e-admin-token';

const h = new Harness('recording');
const crash = new Harness('recording-crash');
after(async () => {
  await h.tearDown();
  await crash.tearDown();
});

/** A LiveKit-shaped HS256 token for grant, valid for an hour. */
function sign(identity, name, grant) {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ iss: KEY, sub: identity, name, nbf: now - 60, exp: now + 3600, video: grant })}`;
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
}

/**
 * A webhook receiver on loopback: it verifies each request as a LiveKit receiver does (the JWT in
 * Authorization, HS256 with the shared secret, issued by KEY, its sha256 claim the body's) and keeps the
 * events; a request that fails is answered 401 and recorded as a problem.
 */
async function startWebhookReceiver() {
  const events = [];
  const problems = [];
  const srv = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const why = verify(req.headers.authorization || '', body);
      if (why) {
        problems.push(why);
        res.writeHead(401).end();
        return;
      }
      events.push(JSON.parse(body.toString('utf8')));
      res.writeHead(200).end();
    });
  });
  const port = await freePort();
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}/hook`, events, problems, close: () => new Promise((r) => srv.close(r)) };
}

/** Why a webhook's signature does not hold, or '' when it does. */
function verify(token, body) {
  const [head, payload, sig] = token.split('.');
  if (!head || !payload || !sig) return `not a JWT: ${token.slice(0, 20)}`;
  const want = createHmac('sha256', SECRET).update(`${head}.${payload}`).digest();
  const got = Buffer.from(sig, 'base64url');
  if (got.length !== want.length || !timingSafeEqual(got, want)) return 'bad signature';
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  if (claims.iss !== KEY) return `issuer ${claims.iss}`;
  if (!(claims.exp > Date.now() / 1000)) return 'expired';
  if (claims.sha256 !== createHash('sha256').update(body).digest('base64')) return 'body does not match its sha256 claim';
  return '';
}

/** The API at addr with the admin token. */
function api(addr) {
  return async (method, path, body, headers = {}) => {
    const res = await fetch(`http://${addr}/api/v1${path}`, {
      method,
      headers: { Authorization: `Bearer ${ADMIN}`, ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(15000),
    });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch { /* a download */ }
    return { status: res.status, json, text, res };
  };
}

/** ffprobe's streams and format of a file. */
async function probe(path) {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', path], { timeout: 30000 });
  const p = JSON.parse(stdout);
  return {
    video: p.streams.find((s) => s.codec_type === 'video'),
    audio: p.streams.find((s) => s.codec_type === 'audio'),
    duration: Number(p.format.duration),
  };
}

/**
 * The palette colours of the n grid tiles of the picture at time `at` of a file, and the levels of the
 * participants' tones (and one nobody sends) over one second of its audio from `at`.
 */
async function content(path, n, at) {
  const { video } = await probe(path);
  const W = video.width;
  const H = video.height;
  const { stdout: rgb } = await run('ffmpeg', ['-v', 'error', '-ss', String(at), '-i', path, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
    { encoding: 'buffer', maxBuffer: 64 << 20, timeout: 30000 });
  const tiles = gridRects(n, W, H).map((r) => {
    const sum = [0, 0, 0];
    let count = 0;
    for (let y = Math.round(r.y + r.h * 0.4); y < r.y + r.h * 0.6; y++) {
      for (let x = Math.round(r.x + r.w * 0.4); x < r.x + r.w * 0.6; x++) {
        const i = (y * W + x) * 3;
        for (let k = 0; k < 3; k++) sum[k] += rgb[i + k];
        count++;
      }
    }
    const mean = sum.map((s) => s / count);
    const near = nearestColour(mean);
    return near.maxChannel <= 60 ? PARTICIPANTS[near.index].name : `none ${mean.map(Math.round)}`;
  });
  const { stdout: pcm } = await run('ffmpeg', ['-v', 'error', '-ss', String(at), '-i', path, '-t', '1', '-f', 's16le', '-ac', '1', '-ar', '48000', '-'],
    { encoding: 'buffer', maxBuffer: 64 << 20, timeout: 30000 });
  const samples = new Float64Array(pcm.length / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = pcm.readInt16LE(2 * i) / 32768;
  const db = (hz) => Math.round(20 * Math.log10(Math.max(toneAmplitude(samples, 48000, hz), 1e-9)) * 10) / 10;
  return { size: `${W}x${H}`, tiles: tiles.sort(), tones: Object.fromEntries([440, 660, 1000, 1500].map((hz) => [hz, db(hz)])) };
}

/** Checks what content() found: P1 and P2 in the tiles, their tones well over one nobody sends. */
function assertContent(what, c) {
  assert.deepEqual(c.tiles, ['P1', 'P2'], `${what}: tiles ${JSON.stringify(c)}`);
  for (const hz of [440, 660]) {
    assert.ok(c.tones[hz] > -40 && c.tones[hz] > c.tones[1500] + 20, `${what}: ${hz} Hz: ${JSON.stringify(c.tones)}`);
  }
}

test('record from the page and the API, stream to RTMP, signed webhooks', { timeout: TEST_TIMEOUT_MS }, async () => {
  const deadline = Date.now() + TEST_TIMEOUT_MS;
  const dir = await h.setUp();
  const hooks = await startWebhookReceiver();
  after(() => hooks.close());
  const recDir = join(dir, 'recordings');
  const addr = await h.startServer(deadline, [], {
    MCU_API_KEYS: `${KEY}:${SECRET}`, MCU_ADMIN_TOKEN: ADMIN, MCU_RECORD_DIR: recDir, MCU_WEBHOOK_URLS: hooks.url,
  });
  const call = api(addr);
  const room = `rec-${process.pid}`;
  assert.equal((await fetch(`http://${addr}/api/v1/rooms`)).status, 401, 'the API without a token');

  const peers = [];
  for (const [i, grant] of [[0, { room, roomJoin: true, roomRecord: true }], [1, { room, roomJoin: true }]]) {
    const p = PARTICIPANTS[i];
    const peer = await h.launch(p.name, await writeFixtures(dir, p), deadline);
    const tok = sign(p.name.toLowerCase(), p.name, grant);
    await peer.page.goto(`http://${addr}/room/${room}?name=${p.name}&autojoin=1&rawaudio=1&access_token=${tok}`, { timeout: h.budget(deadline, 15000) });
    peers.push(peer);
  }
  const [p1, p2] = peers;
  for (const peer of peers) {
    await h.wait(`${peer.name} to play the composite`, async () => {
      const v = await peer.page.evaluate(pageVideoState, '#composite');
      return v.present && v.width > 0 && !v.paused && v.time > 1 ? v : null;
    }, { timeoutMs: h.budget(deadline, 30000), describe: () => h.serverTail(15) });
  }
  const self = (peer) => peer.page.evaluate(() => window.mcuSelf);
  assert.equal((await self(p1)).canRecord, true, 'P1 may record');
  assert.equal((await self(p2)).canRecord, false, 'P2 may not record');
  assert.equal(await p2.page.isVisible('#record'), false, 'P2 has no Record button');

  // 1. P1 records from the page; both see the badge.
  await p1.page.click('#record');
  for (const peer of peers) {
    await h.wait(`${peer.name} to show the REC badge`, async () => (await peer.page.isVisible('#rec-badge')) || null,
      { timeoutMs: h.budget(deadline, 10000) });
  }
  await sleep(6000);
  await p1.page.click('#record');
  for (const peer of peers) {
    await h.wait(`${peer.name} to hide the REC badge`, async () => !(await peer.page.isVisible('#rec-badge')) || null,
      { timeoutMs: h.budget(deadline, 10000) });
  }

  // 2. The API: the room, the recording, a range, the file's content.
  const roomView = await call('GET', `/rooms/${room}`);
  assert.equal(roomView.status, 200);
  assert.deepEqual(roomView.json.participants.map((p) => `${p.name}:${p.kind}`).sort(), ['P1:webrtc', 'P2:webrtc'], roomView.text);
  const list = await call('GET', `/rooms/${room}/recordings`);
  assert.equal(list.status, 200, list.text);
  assert.equal(list.json.length, 1, list.text);
  const rec = list.json[0];
  assert.equal(rec.state, 'finished', list.text);
  assert.match(rec.file, new RegExp(`^${room}-\\d{8}-\\d{6}\\.mp4$`));
  assert.ok(rec.duration_ns > 5e9 && rec.size > 0, list.text);
  const range = await fetch(`http://${addr}/api/v1/recordings/${rec.file}`, { headers: { Authorization: `Bearer ${ADMIN}`, Range: 'bytes=4-7' } });
  assert.equal(range.status, 206);
  assert.equal(Buffer.from(await range.arrayBuffer()).toString('latin1'), 'ftyp');
  const download = await fetch(`http://${addr}/api/v1/recordings/${rec.file}`, { headers: { Authorization: `Bearer ${ADMIN}` } });
  assert.equal(download.status, 200);
  const local = join(dir, 'download.mp4');
  await writeFile(local, Buffer.from(await download.arrayBuffer()));
  assert.equal((await stat(local)).size, rec.size);
  const pr = await probe(local);
  assert.equal(pr.video?.codec_name, 'h264');
  assert.equal(pr.audio?.codec_name, 'aac');
  assert.ok(Math.abs(pr.duration - rec.duration_ns / 1e9) < 0.3, `file ${pr.duration} s, API ${rec.duration_ns / 1e9} s`);
  assertContent('the recording', await content(local, 2, 3));

  // 3. A live stream through the API to ffmpeg -listen.
  const rtmpPort = await freePort();
  const flv = join(dir, 'stream.flv');
  const receiver = h.spawnChild('rtmp-receiver', 'ffmpeg', ['-hide_banner', '-nostats', '-timeout', '30', '-listen', '1',
    '-i', `rtmp://127.0.0.1:${rtmpPort}/live/secret-key`, '-c', 'copy', '-y', flv]);
  const received = new Promise((r) => receiver.once('exit', r));
  await h.wait('ffmpeg to listen for RTMP', () => tcpListening(rtmpPort), { timeoutMs: h.budget(deadline, 15000) });
  const started = await call('POST', `/rooms/${room}/streams`, { url: `rtmp://127.0.0.1:${rtmpPort}/live/secret-key` });
  assert.equal(started.status, 201, started.text);
  assert.doesNotMatch(started.text, /secret-key/, 'the stream key shows');
  await h.wait('the stream live', async () => {
    const s = await call('GET', `/rooms/${room}/streams`);
    return s.json?.[0]?.state === 'live' ? s.json : null;
  }, { timeoutMs: h.budget(deadline, 15000) });
  await sleep(5000);
  const stopped = await call('DELETE', `/rooms/${room}/streams/${started.json.id}`);
  assert.equal(stopped.status, 200, stopped.text);
  assert.equal(stopped.json.state, 'stopped', stopped.text);
  const receiverDone = await Promise.race([received.then(() => true), sleep(20000).then(() => false)]);
  assert.ok(receiverDone, `the RTMP receiver did not finish its file: ${h.children.find((c) => c.name === 'rtmp-receiver')?.log.join('').slice(-600)}`);
  const ps = await probe(flv);
  assert.equal(ps.video?.codec_name, 'h264');
  assert.equal(ps.audio?.codec_name, 'aac');
  assertContent('the stream', await content(flv, 2, 2));

  // 4. The webhooks, after everyone left.
  for (const peer of peers) await peer.page.click('#leave');
  const want = ['room_started', 'participant_joined', 'recording_started', 'recording_finished', 'stream_started',
    'stream_finished', 'participant_left', 'room_finished'];
  await h.wait('the webhooks', () => {
    const got = new Set(hooks.events.map((e) => e.event));
    return want.every((w) => got.has(w)) ? got : null;
  }, { timeoutMs: h.budget(deadline, 15000), describe: () => JSON.stringify(hooks.events.map((e) => e.event)) });
  assert.deepEqual(hooks.problems, []);
  const finished = hooks.events.find((e) => e.event === 'recording_finished');
  assert.equal(finished.recording.file, rec.file);
  assert.equal(finished.recording.size, rec.size);
  assert.equal(hooks.events.filter((e) => e.event === 'participant_joined').length, 2);
  assert.ok(hooks.events.every((e) => e.room === room && e.id && e.created_at > 0), JSON.stringify(hooks.events));
  assert.doesNotMatch(JSON.stringify(hooks.events), /secret-key/);
  h.passed = true;
});

test('a recording survives kill -9 of the server, losing at most its last fragment (2 s, and the moment before the kill)', { timeout: 90000 }, async (t) => {
  const deadline = Date.now() + 90000;
  const dir = await crash.setUp();
  const recDir = join(dir, 'recordings');
  const addr = await crash.startServer(deadline, [], { MCU_RECORD_DIR: recDir, MCU_RECORD_ROOMS: 'all', MCU_ADMIN_TOKEN: ADMIN });
  const room = `crash-${process.pid}`;
  const p = PARTICIPANTS[2];
  const peer = await crash.launch(p.name, await writeFixtures(dir, p), deadline);
  await peer.page.goto(`http://${addr}/room/${room}?name=${p.name}&autojoin=1&rawaudio=1`, { timeout: crash.budget(deadline, 15000) });
  const call = api(addr);
  await crash.wait('7 s recorded', async () => {
    const l = await call('GET', `/rooms/${room}/recordings`);
    return l.json?.[0]?.duration_ns > 7e9 ? l.json[0] : null;
  }, { timeoutMs: crash.budget(deadline, 40000), describe: () => crash.serverTail(15) });
  const before = (await call('GET', `/rooms/${room}/recordings`)).json[0];
  const gone = new Promise((r) => crash.server.once('exit', r));
  crash.server.kill('SIGKILL');
  await gone;
  const files = (await readdir(recDir)).filter((f) => f.endsWith('.mp4'));
  assert.deepEqual(files, [before.file]);
  const path = join(recDir, before.file);
  const pr = await probe(path);
  const recorded = before.duration_ns / 1e9;
  t.diagnostic(`kill -9 after ${recorded} s recorded: the file plays ${pr.duration} s`);
  assert.equal(pr.video?.codec_name, 'h264');
  assert.ok(pr.duration >= recorded - 2.5 && pr.duration <= recorded + 1, `the file plays ${pr.duration} s of ${recorded} s recorded`);
  const { stderr } = await run('ffmpeg', ['-v', 'error', '-i', path, '-fps_mode', 'passthrough', '-r', '1000', '-f', 'null', '-'], { timeout: 30000 });
  assert.equal(stderr.trim(), '', 'ffmpeg decoding the file');

  // Chromium plays it: served over HTTP to a page of its own.
  const body = await readFile(path);
  const srv = createServer((req, res) => {
    if (req.url === '/file.mp4') res.writeHead(200, { 'Content-Type': 'video/mp4' }).end(body);
    else res.writeHead(200, { 'Content-Type': 'text/html' }).end('<video id="v" src="/file.mp4" muted autoplay playsinline></video>');
  });
  const port = await freePort();
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  try {
    await peer.page.goto(`http://127.0.0.1:${port}/`, { timeout: crash.budget(deadline, 10000) });
    const v = await waitFor('Chromium to play the file', async () => { // the server is gone: not crash.wait
      const s = await peer.page.evaluate(() => {
        const e = /** @type {HTMLVideoElement} */ (document.getElementById('v'));
        return { time: e.currentTime, width: e.videoWidth, error: e.error ? e.error.message || String(e.error.code) : '' };
      });
      if (s.error) throw new Error(`Chromium cannot play it: ${s.error}`);
      return s.time > 1 && s.width > 0 ? s : null;
    }, { timeoutMs: crash.budget(deadline, 15000) });
    assert.ok(v.width > 0);
  } finally {
    srv.close();
  }
  crash.passed = true;
});

/** Whether something listens on TCP port on this machine (/proc/net/tcp and tcp6: state 0A). */
async function tcpListening(port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(f, 'utf8').catch(() => '');
    if (text.split('\n').some((l) => { const c = l.trim().split(/\s+/); return c[1]?.endsWith(`:${hex}`) && c[3] === '0A'; })) return true;
  }
  return false;
}
