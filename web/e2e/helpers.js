// Shared helpers of the browser end-to-end tests: fixture generators (Y4M camera, WAV microphone), the
// Chromium command line, bounded polling, and the measuring functions that run inside a page (colour of
// grid tiles, tone levels). Everything here is deterministic and has no dependency but playwright-core.

import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Debian's Chromium; never a downloaded browser. Override with CHROMIUM=/path. */
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/**
 * The test participants: a saturated colour (camera) and a pure tone (microphone) each, far apart so that
 * H.264's colour shifts (up to ~40 per channel) and Opus cannot confuse them.
 * The tones are 440, 660 and 1000 Hz, not 440/660/880: with 880, the third-order intermodulation product of
 * the two tones a listener hears lands exactly on the listener's own tone (2*660-880 = 440 for P1,
 * 2*660-440 = 880 for P3), so any nonlinearity in the mix or codec would fake "own voice heard". With 1000
 * every second- and third-order product of a pair is at least 100 Hz from the third tone.
 */
export const PARTICIPANTS = [
  { name: 'P1', rgb: [220, 30, 30], hz: 440 }, // red
  { name: 'P2', rgb: [30, 200, 40], hz: 660 }, // green
  { name: 'P3', rgb: [40, 60, 230], hz: 1000 }, // blue
];

export const PALETTE = PARTICIPANTS.map((p) => p.rgb);

/**
 * A fourth participant, for the tests that need four (cascade.test.js); PARTICIPANTS keeps its three,
 * which other tests map over. Yellow is at least 190 from the three others' colours in RGB and at least
 * 107 in limited-range BT.601 Y'CbCr (rgbToYuv601: P1 [91, 100, 211], P2 [128, 83, 65], P3 [79, 206, 107],
 * P4 [190, 47, 145]), so the codecs' shifts (up to ~40 per channel) cannot confuse it.
 * 3300 Hz: no fourth tone near the three others keeps every product 100 Hz from every tone (440 + 660 - f,
 * 1000 + f - 440 and the like sweep the band), so P4 sits above them. Every second- and third-order product
 * with 3300 in it is at least 220 Hz from every tone (the nearest: 3300 +- (660 - 440) = 3080 and 3520,
 * 220 Hz from 3300 itself; 3300 - 2*1000 = 1300, 300 Hz from 1000) and at least 640 Hz from each tone it
 * does not contain (1300 from 660), the one that may be absent; every product of the three others is at
 * least 300 Hz from 3300 (the nearest: 3*1000 = 3000, then 2*1000 + 660 = 2660). The three others'
 * products stay as above.
 */
export const P4 = { name: 'P4', rgb: [230, 220, 40], hz: 3300 }; // yellow

/** PARTICIPANTS and P4. */
export const PARTICIPANTS4 = [...PARTICIPANTS, P4];

/** The colours of PARTICIPANTS4, for nearestColour. */
export const PALETTE4 = PARTICIPANTS4.map((p) => p.rgb);

// ---------------------------------------------------------------------------------------------------------
// Fixtures

/**
 * RGB (0-255) to limited-range BT.601 Y'CbCr, which is how Chromium interprets the frames of its fake
 * capture file (verified by fixtures.test.js reading the local preview back).
 * @param {number[]} rgb
 * @returns {[number, number, number]}
 */
export function rgbToYuv601([r, g, b]) {
  const R = r / 255;
  const G = g / 255;
  const B = b / 255;
  const clamp = (v) => Math.max(0, Math.min(255, Math.round(v)));
  return [
    clamp(16 + 65.481 * R + 128.553 * G + 24.966 * B),
    clamp(128 - 37.797 * R - 74.203 * G + 112.0 * B),
    clamp(128 + 112.0 * R - 93.786 * G - 18.214 * B),
  ];
}

/**
 * A Y4M file (4:2:0, progressive, square pixels) of `frames` identical frames of one colour. Chromium loops
 * the file, so one frame is a steady picture.
 * @param {{width?: number, height?: number, rgb: number[], frames?: number, fps?: number}} o
 * @returns {Buffer}
 */
export function makeY4M({ width = 640, height = 360, rgb, frames = 1, fps = 30 }) {
  if (width % 2 || height % 2) throw new Error('Y4M 4:2:0 needs even dimensions');
  const [y, u, v] = rgbToYuv601(rgb);
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`, 'ascii');
  const ySize = width * height;
  const cSize = (width / 2) * (height / 2);
  const frame = Buffer.alloc(6 + ySize + 2 * cSize);
  frame.write('FRAME\n', 0, 'ascii');
  frame.fill(y, 6, 6 + ySize);
  frame.fill(u, 6 + ySize, 6 + ySize + cSize);
  frame.fill(v, 6 + ySize + cSize);
  return Buffer.concat([header, ...Array(frames).fill(frame)]);
}

/**
 * Parses a Y4M header and its first frame's planes back (for self-checks).
 * @param {Buffer} buf
 */
export function parseY4M(buf) {
  const nl = buf.indexOf(0x0a);
  const header = buf.subarray(0, nl).toString('ascii');
  const tags = header.split(' ');
  if (tags[0] !== 'YUV4MPEG2') throw new Error(`not a Y4M file: ${header}`);
  const get = (c) => tags.find((t) => t[0] === c)?.slice(1);
  const width = Number(get('W'));
  const height = Number(get('H'));
  const ySize = width * height;
  const cSize = ySize / 4;
  const frameSize = 6 + ySize + 2 * cSize;
  const body = buf.subarray(nl + 1);
  if (body.subarray(0, 6).toString('ascii') !== 'FRAME\n') throw new Error('missing FRAME marker');
  if (body.length % frameSize) throw new Error(`body ${body.length} is not a multiple of frame ${frameSize}`);
  const f = body.subarray(6, frameSize);
  return {
    width, height, fps: get('F'), chroma: get('C'), frames: body.length / frameSize,
    y: f.subarray(0, ySize), u: f.subarray(ySize, ySize + cSize), v: f.subarray(ySize + cSize),
  };
}

/**
 * A WAV file: 16-bit PCM, mono, of a pure sine. Use whole seconds so that every tone has a whole number
 * of cycles and Chromium's looping of the file makes no click.
 * @param {{hz: number, seconds?: number, rate?: number, amplitude?: number}} o amplitude is 0..1 of full scale
 * @returns {Buffer}
 */
export function makeWav({ hz, seconds = 10, rate = 48000, amplitude = 0.3 }) {
  const n = Math.round(seconds * rate);
  const dataBytes = n * 2;
  const b = Buffer.alloc(44 + dataBytes);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + dataBytes, 4);
  b.write('WAVE', 8, 'ascii');
  b.write('fmt ', 12, 'ascii');
  b.writeUInt32LE(16, 16); // fmt chunk size
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28); // byte rate
  b.writeUInt16LE(2, 32); // block align
  b.writeUInt16LE(16, 34); // bits per sample
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < n; i++) {
    b.writeInt16LE(Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * hz * i) / rate)), 44 + 2 * i);
  }
  return b;
}

/**
 * Parses a canonical PCM WAV (for self-checks): format fields and the samples as floats.
 * @param {Buffer} b
 */
export function parseWav(b) {
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new Error('not RIFF/WAVE');
  let off = 12;
  let fmt = null;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      fmt = {
        format: b.readUInt16LE(body), channels: b.readUInt16LE(body + 2), rate: b.readUInt32LE(body + 4),
        byteRate: b.readUInt32LE(body + 8), blockAlign: b.readUInt16LE(body + 12), bits: b.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('data before fmt');
      const n = size / fmt.blockAlign;
      const samples = new Float64Array(n);
      for (let i = 0; i < n; i++) samples[i] = b.readInt16LE(body + i * fmt.blockAlign) / 32768;
      return { ...fmt, riffSize: b.readUInt32LE(4), dataSize: size, samples };
    }
    off = body + size + (size & 1);
  }
  throw new Error('no data chunk');
}

/**
 * Amplitude of frequency hz in samples (Goertzel, i.e. one DFT bin), scaled so a sine of amplitude A gives
 * ~A when the window holds whole cycles.
 * @param {ArrayLike<number>} samples
 * @param {number} rate
 * @param {number} hz
 */
export function toneAmplitude(samples, rate, hz) {
  const w = (2 * Math.PI * hz) / rate;
  const c = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < samples.length; i++) {
    const s0 = samples[i] + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - c * s1 * s2;
  return (2 * Math.sqrt(Math.max(power, 0))) / samples.length;
}

/**
 * Writes one participant's camera and microphone files into dir.
 * @param {string} dir
 * @param {{name: string, rgb: number[], hz: number}} p
 * @returns {Promise<{y4m: string, wav: string}>}
 */
export async function writeFixtures(dir, p) {
  const y4m = join(dir, `${p.name}.y4m`);
  const wav = join(dir, `${p.name}.wav`);
  await writeFile(y4m, makeY4M({ rgb: p.rgb }));
  await writeFile(wav, makeWav({ hz: p.hz }));
  return { y4m, wav };
}

// ---------------------------------------------------------------------------------------------------------
// Chromium and polling

/**
 * The command line of one participant's Chromium: fake devices fed from its own files, loopback ICE.
 * @param {{y4m: string, wav: string}} f
 */
export function chromiumArgs(f) {
  return [
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-video-capture=${f.y4m}`,
    `--use-file-for-fake-audio-capture=${f.wav}`,
    '--allow-loopback-in-peer-connection',
    '--autoplay-policy=no-user-gesture-required',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    // Headless pages count as hidden: keep their timers and media running at full rate.
    '--disable-background-timer-throttling',
    '--disable-renderer-backgrounding',
    '--disable-backgrounding-occluded-windows',
  ];
}

/** An error that stops waitFor at once instead of being retried (the thing waited for cannot happen). */
export class Fatal extends Error {}

/**
 * Polls fn until it returns a truthy value, at most timeoutMs; never a fixed sleep beyond intervalMs.
 * On timeout it throws, naming `what` and the last value or error (from `describe` if given). An error
 * thrown by fn is retried, except a Fatal, which ends the wait with the same report at once.
 * @template T
 * @param {string} what
 * @param {() => Promise<T>|T} fn
 * @param {{timeoutMs?: number, intervalMs?: number, describe?: () => Promise<string>|string}} [o]
 * @returns {Promise<T>}
 */
export async function waitFor(what, fn, { timeoutMs = 10000, intervalMs = 200, describe } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
      if (err instanceof Fatal) break;
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
  let detail = last instanceof Error ? last.message : JSON.stringify(last);
  if (describe) {
    try {
      detail += `\n${await describe()}`;
    } catch { /* best effort */ }
  }
  const why = last instanceof Fatal ? 'gave up' : `timed out after ${timeoutMs} ms`;
  throw new Error(`${why} waiting for ${what}; last: ${detail}`);
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (s.address());
      s.close(() => resolve(port));
    });
  });
}

/**
 * A port that was free a moment ago on 127.0.0.1 for both TCP and UDP (a TURN or SIP server listens on
 * both at one port).
 */
export async function freeTcpUdpPort() {
  for (let i = 0; ; i++) {
    const port = await freePort();
    const free = await new Promise((resolve) => {
      const s = createSocket('udp4');
      s.on('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
    if (i >= 20) throw new Error('no port free for both TCP and UDP after 20 tries');
  }
}

// ---------------------------------------------------------------------------------------------------------
// Geometry and colour matching

/**
 * Where the server's grid layout puts n tiles on a w x h canvas: a port of mixer/layout.go gridRects
 * (16:9 tiles, as large as fit, more columns on ties within 1 %, centred, even coordinates).
 * @param {number} n
 * @param {number} w
 * @param {number} h
 * @returns {{x: number, y: number, w: number, h: number}[]}
 */
export function gridRects(n, w, h) {
  if (n <= 0) return [];
  let best = -1;
  let cols = 1;
  let rows = 1;
  for (let c = 1; c <= n; c++) {
    const r = Math.ceil(n / c);
    const s = Math.min(w / c / 16, h / r / 9);
    if (s >= best * 0.99) {
      best = Math.max(s, best);
      cols = c;
      rows = r;
    }
  }
  let tw = Math.floor(w / cols) & ~1;
  let th = Math.floor(h / rows) & ~1;
  if (n === 1) {
    tw = w & ~1;
    th = h & ~1;
  } else {
    const [cw, ch] = tw * 9 > th * 16 ? [Math.floor((th * 16) / 9), th] : [tw, Math.floor((tw * 9) / 16)];
    tw = cw & ~1;
    th = ch & ~1;
  }
  const y0 = Math.floor((h - rows * th) / 2);
  const out = [];
  for (let r = 0; r < rows; r++) {
    const inRow = Math.min(cols, n - r * cols);
    const x0 = Math.floor((w - inRow * tw) / 2);
    for (let c = 0; c < inRow; c++) out.push({ x: x0 + c * tw, y: y0 + r * th, w: tw, h: th });
  }
  return out;
}

/**
 * The centre patches of n grid tiles as fractions of the canvas (the composite may arrive at any tier
 * size): the middle 20 % of each tile, clear of the name label at the bottom left and the border.
 * @param {number} n
 */
export function tilePatches(n) {
  const W = 1280;
  const H = 720;
  return gridRects(n, W, H).map((r) => ({
    x: (r.x + r.w * 0.4) / W, y: (r.y + r.h * 0.4) / H, w: (r.w * 0.2) / W, h: (r.h * 0.2) / H,
  }));
}

/** The largest 16:9 size within w x h (mixer/layout.go fit169). */
function fit169(w, h) {
  return w * 9 > h * 16 ? [Math.floor((h * 16) / 9), h] : [w, Math.floor((w * 9) / 16)];
}

/** A rectangle {x, y, w, h} from corners, each rounded down to even (mixer/layout.go even). */
function evenRect(x0, y0, x1, y1) {
  const [a, b, c, d] = [x0, y0, x1, y1].map((v) => v & ~1);
  return { x: a, y: b, w: c - a, h: d - b };
}

/**
 * The largest sw x sh rectangle in dw x dh, centred, even (a port of codec/scale LetterboxRect).
 * @returns {{x: number, y: number, w: number, h: number}}
 */
export function letterboxRect(sw, sh, dw, dh) {
  let w = dw;
  let h = dh;
  if (sw * dh > sh * dw) h = Math.floor((dw * sh) / sw);
  else w = Math.floor((dh * sw) / sh);
  w = Math.max(w & ~1, 2);
  h = Math.max(h & ~1, 2);
  const x = Math.floor((dw - w) / 2) & ~1;
  const y = Math.floor((dh - h) / 2) & ~1;
  return { x, y, w, h };
}

/** k 16:9 tiles along a strip, side by side or one above the other, centred (mixer/layout.go stripRects). */
function stripRects(k, strip, column) {
  let [tw, th] = column ? fit169(strip.w, Math.floor(strip.h / k)) : fit169(Math.floor(strip.w / k), strip.h);
  tw &= ~1;
  th &= ~1;
  let [dx, dy] = [tw, 0];
  let x0 = strip.x + Math.floor((strip.w - k * tw) / 2);
  let y0 = strip.y + Math.floor((strip.h - th) / 2);
  if (column) {
    [dx, dy] = [0, th];
    x0 = strip.x + Math.floor((strip.w - tw) / 2);
    y0 = strip.y + Math.floor((strip.h - k * th) / 2);
  }
  const out = [];
  for (let i = 0; i < k; i++) out.push(evenRect(x0 + i * dx, y0 + i * dy, x0 + i * dx + tw, y0 + i * dy + th));
  return out;
}

/**
 * Where the server's Speaker layout puts n > 1 tiles on a w x h canvas (a port of mixer/layout.go
 * speakerRects): the main tile (the top speaker or the pinned camera) over the whole width above a strip
 * a fifth of the height, the others in that strip.
 * @returns {{x: number, y: number, w: number, h: number}[]}
 */
export function speakerRects(n, w, h) {
  const stripH = Math.floor(h / 5) & ~1;
  return [evenRect(0, 0, w, h - stripH), ...stripRects(n - 1, { x: 0, y: h - stripH, w, h: stripH }, false)];
}

/**
 * Where the server's Presentation layout puts a sw x sh screen and n camera tiles on a w x h canvas (a
 * port of mixer/layout.go PresentationRects): the screen first, letterboxed beside a column of tiles on
 * the right or above a row along the bottom (whichever leaves it larger; the right when equal), then the
 * tiles.
 * @returns {{x: number, y: number, w: number, h: number}[]}
 */
export function presentationRects(n, w, h, sw = 16, sh = 9) {
  if (n <= 0) return [letterboxRect(sw, sh, w, h)];
  const th = Math.max(Math.floor(fit169(w, h)[1] / 5) & ~1, 2);
  const tw = Math.max(Math.floor((th * 16) / 9) & ~1, 2);
  const right = letterboxRect(sw, sh, w - tw, h);
  const below = letterboxRect(sw, sh, w, h - th);
  if (below.w * below.h > right.w * right.h) return [below, ...stripRects(n, { x: 0, y: h - th, w, h: th }, false)];
  return [right, ...stripRects(n, { x: w - tw, y: 0, w: tw, h }, true)];
}

/**
 * The centre patches of rectangles on a W x H canvas as fractions of it (the composite may arrive at any
 * tier size): the middle `share` of each rectangle's width and height, clear of labels and borders.
 * @param {{x: number, y: number, w: number, h: number}[]} rects
 */
export function centrePatches(rects, W = 1280, H = 720, share = 0.2) {
  const a = (1 - share) / 2;
  return rects.map((r) => ({ x: (r.x + r.w * a) / W, y: (r.y + r.h * a) / H, w: (r.w * share) / W, h: (r.h * share) / H }));
}

/**
 * Index of the palette colour nearest to rgb, and the distance (max over channels).
 * @param {number[]} rgb
 * @param {number[][]} palette
 */
export function nearestColour(rgb, palette = PALETTE) {
  let best = -1;
  let dist = Infinity;
  palette.forEach((p, i) => {
    const d = Math.hypot(p[0] - rgb[0], p[1] - rgb[1], p[2] - rgb[2]);
    if (d < dist) {
      dist = d;
      best = i;
    }
  });
  const maxChannel = best < 0 ? Infinity : Math.max(...palette[best].map((v, k) => Math.abs(v - rgb[k])));
  return { index: best, dist, maxChannel };
}

// ---------------------------------------------------------------------------------------------------------
// Functions that run inside a page (page.evaluate serialises them: they must be self-contained)

/**
 * Playback state of a video element: dimensions, time, frames.
 * @param {string} selector
 */
export function pageVideoState(selector) {
  const v = /** @type {HTMLVideoElement|null} */ (document.querySelector(selector));
  if (!v) return { present: false };
  const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
  const s = /** @type {MediaStream|null} */ (v.srcObject);
  return {
    present: true,
    width: v.videoWidth,
    height: v.videoHeight,
    time: v.currentTime,
    paused: v.paused,
    muted: v.muted,
    readyState: v.readyState,
    frames: q ? q.totalVideoFrames : -1,
    tracks: s && s.getTracks ? s.getTracks().map((t) => `${t.kind}:${t.readyState}`) : [],
  };
}

/**
 * Draws the video's current frame into a canvas at its own size and returns the per-channel median colour
 * of each patch (fractions of the frame).
 * @param {{selector: string, patches: {x: number, y: number, w: number, h: number}[]}} arg
 */
export function pageSampleColours({ selector, patches }) {
  const v = /** @type {HTMLVideoElement} */ (document.querySelector(selector));
  const W = v.videoWidth;
  const H = v.videoHeight;
  if (!W || !H) return { width: W, height: H, colours: [] };
  const c = document.createElement('canvas');
  c.width = W;
  c.height = H;
  const g = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d', { willReadFrequently: true }));
  g.drawImage(v, 0, 0, W, H);
  const median = (a) => {
    a.sort((x, y) => x - y);
    return a[a.length >> 1];
  };
  const colours = patches.map((p) => {
    const x = Math.round(p.x * W);
    const y = Math.round(p.y * H);
    const w = Math.max(1, Math.round(p.w * W));
    const h = Math.max(1, Math.round(p.h * H));
    const d = g.getImageData(x, y, w, h).data;
    const ch = [[], [], []];
    for (let i = 0; i < d.length; i += 4) {
      ch[0].push(d[i]);
      ch[1].push(d[i + 1]);
      ch[2].push(d[i + 2]);
    }
    return ch.map(median);
  });
  return { width: W, height: H, colours };
}

/**
 * Looks for a colour anywhere in the video's current frame: splits the frame into cols x rows blocks and
 * returns those of which at least minShare of the pixels are within tol of rgb on every channel (so a
 * thin band where two other colours meet, or a codec's colour bleed along it, never counts), as
 * fractions of the frame.
 * @param {{selector: string, rgb: number[], tol?: number, cols?: number, rows?: number, minShare?: number}} arg
 */
export function pageFindColour({ selector, rgb, tol = 70, cols = 32, rows = 18, minShare = 0.8 }) {
  const v = /** @type {HTMLVideoElement} */ (document.querySelector(selector));
  const W = v.videoWidth;
  const H = v.videoHeight;
  if (!W || !H) return { width: W, height: H, blocks: [] };
  const c = document.createElement('canvas');
  c.width = W;
  c.height = H;
  const g = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d', { willReadFrequently: true }));
  g.drawImage(v, 0, 0, W, H);
  const d = g.getImageData(0, 0, W, H).data;
  const blocks = [];
  for (let by = 0; by < rows; by++) {
    for (let bx = 0; bx < cols; bx++) {
      const x0 = Math.floor((bx * W) / cols);
      const x1 = Math.floor(((bx + 1) * W) / cols);
      const y0 = Math.floor((by * H) / rows);
      const y1 = Math.floor(((by + 1) * H) / rows);
      let hit = 0;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const i = (y * W + x) * 4;
          if (Math.abs(d[i] - rgb[0]) <= tol && Math.abs(d[i + 1] - rgb[1]) <= tol && Math.abs(d[i + 2] - rgb[2]) <= tol) hit++;
        }
      }
      if (hit >= minShare * (x1 - x0) * (y1 - y0)) blocks.push({ x: bx / cols, y: by / rows });
    }
  }
  return { width: W, height: H, blocks };
}

/**
 * Measures tone levels in the audio of the stream a media element plays: MediaStreamSource -> AnalyserNode
 * (Blackman window, fftSize 16384: 2.9 Hz bins at 48 kHz), power spectra averaged over durationMs. For each
 * frequency it reports the strongest bin within +-tolHz in dB (full-scale sine ~ -6 dB... relative values
 * are what matter), and the median of 100-2000 Hz as the floor.
 * Remote WebRTC audio reaches WebAudio only while a media element plays it: the element keeps playing
 * (muted is fine) and this function does not touch it.
 * @param {{selector: string, freqs: number[], durationMs?: number, tolHz?: number}} arg
 */
export async function pageMeasureTones({ selector, freqs, durationMs = 1500, tolHz = 8 }) {
  const el = /** @type {HTMLMediaElement} */ (document.querySelector(selector));
  const stream = /** @type {MediaStream|null} */ (el && el.srcObject);
  if (!stream || !stream.getAudioTracks || !stream.getAudioTracks().length) {
    return { error: 'no audio track on the element' };
  }
  const w = /** @type {any} */ (window);
  // One context per page, reused across polls (contexts are a limited resource).
  if (!w.__e2eAudio || w.__e2eAudio.track !== stream.getAudioTracks()[0]) {
    if (w.__e2eAudio) w.__e2eAudio.ctx.close();
    const ctx = new AudioContext();
    const src = ctx.createMediaStreamSource(new MediaStream([stream.getAudioTracks()[0]]));
    const an = ctx.createAnalyser();
    an.fftSize = 16384;
    an.smoothingTimeConstant = 0;
    an.minDecibels = -160;
    an.maxDecibels = 0;
    src.connect(an);
    w.__e2eAudio = { ctx, an, track: stream.getAudioTracks()[0] };
  }
  const { ctx, an } = w.__e2eAudio;
  if (ctx.state !== 'running') await ctx.resume();
  const bins = an.frequencyBinCount;
  const buf = new Float32Array(bins);
  const acc = new Float64Array(bins);
  let frames = 0;
  const end = performance.now() + durationMs;
  while (performance.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    an.getFloatFrequencyData(buf);
    for (let i = 0; i < bins; i++) acc[i] += 10 ** (buf[i] / 10);
    frames++;
  }
  const hzPerBin = ctx.sampleRate / an.fftSize;
  const db = (p) => (p > 0 ? 10 * Math.log10(p / frames) : -Infinity);
  const tones = freqs.map((f) => {
    let best = 0;
    let at = 0;
    const lo = Math.max(1, Math.floor((f - tolHz) / hzPerBin));
    const hi = Math.min(bins - 1, Math.ceil((f + tolHz) / hzPerBin));
    for (let i = lo; i <= hi; i++) {
      if (acc[i] > best) {
        best = acc[i];
        at = i;
      }
    }
    return { hz: f, db: Math.round(db(best) * 10) / 10, peakHz: Math.round(at * hzPerBin * 10) / 10 };
  });
  const band = [];
  for (let i = Math.ceil(100 / hzPerBin); i <= Math.floor(2000 / hzPerBin); i++) band.push(db(acc[i]));
  band.sort((a, b) => a - b);
  return {
    sampleRate: ctx.sampleRate, hzPerBin, frames, state: ctx.state,
    floorDb: Math.round(band[band.length >> 1] * 10) / 10,
    tones,
  };
}

/** The quietest level an expected tone may have, in dB of the analyser (a full-scale sine is about -6 dB). */
export const MIN_TONE_DB = -60;

/**
 * Judges a pageMeasureTones result: every frequency of `heard` must be present (finite, at least
 * MIN_TONE_DB, and overFloorDb above the spectrum's median), the floor itself finite (all-zero audio has
 * a floor of -Infinity: silence must fail, not pass every relative check), and every frequency of `absent`
 * at least belowDb under the weakest heard one.
 * @param {{floorDb: number, tones: {hz: number, db: number}[]}} r
 * @param {{heard: number[], absent?: number[], overFloorDb: number, belowDb?: number}} want
 * @returns {{ok: boolean, text: string}}
 */
export function toneVerdict(r, { heard, absent = [], overFloorDb, belowDb = 0 }) {
  const level = (hz) => r.tones.find((x) => x.hz === hz)?.db ?? -Infinity;
  const weakest = Math.min(...heard.map(level));
  const loudestAbsent = absent.length ? Math.max(...absent.map(level)) : -Infinity;
  const problems = [];
  if (!Number.isFinite(r.floorDb)) problems.push(`floor ${r.floorDb} dB: no signal at all`);
  for (const hz of heard) {
    const db = level(hz);
    if (!Number.isFinite(db) || db < MIN_TONE_DB) problems.push(`${hz} Hz at ${db} dB, under ${MIN_TONE_DB} dB`);
    else if (!(db >= r.floorDb + overFloorDb)) problems.push(`${hz} Hz only ${Math.round((db - r.floorDb) * 10) / 10} dB over the floor`);
  }
  for (const hz of absent) {
    const db = level(hz);
    if (Number.isFinite(db) && !(db <= weakest - belowDb)) problems.push(`${hz} Hz at ${db} dB, less than ${belowDb} dB under ${weakest} dB`);
  }
  const text = `${r.tones.map((x) => `${x.hz}Hz ${x.db}dB`).join(', ')}, floor ${r.floorDb}dB` +
    (absent.length ? `; unwanted ${Math.round((loudestAbsent - weakest) * 10) / 10}dB vs the weakest wanted` : '');
  return { ok: problems.length === 0, text: problems.length ? `${text} (${problems.join('; ')})` : text };
}

/**
 * A minimal SIP user agent client over UDP for the e2e tests: one INVITE/ACK/BYE dialog, calling as
 * display name `caller` from this process (the media comes from elsewhere, e.g. ffmpeg).
 */
export class SipCall {
  /** @param {import('node:dgram').Socket} sock @param {number} serverPort @param {string} room @param {string} caller */
  constructor(sock, serverPort, room, caller) {
    this.caller = caller;
    this.sock = sock;
    this.serverPort = serverPort;
    this.uri = `sip:${room}@127.0.0.1:${serverPort}`;
    this.localPort = sock.address().port;
    this.callId = `${Date.now().toString(36)}-${process.pid}@127.0.0.1`;
    this.fromTag = `t${Math.floor(Math.random() * 1e9)}`;
    this.toTag = '';
    /** @type {string[]} */ this.received = [];
    /** @type {(() => void)[]} */ this.waiters = [];
    sock.on('message', (b) => {
      this.received.push(b.toString('utf8'));
      for (const w of this.waiters.splice(0)) w();
    });
  }

  request(method, cseq, body = '') {
    const branch = `z9hG4bK${Math.floor(Math.random() * 1e12).toString(36)}`;
    const lines = [
      `${method} ${this.uri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.localPort};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: "${this.caller}" <sip:phone@127.0.0.1:${this.localPort}>;tag=${this.fromTag}`,
      `To: <${this.uri}>${this.toTag ? `;tag=${this.toTag}` : ''}`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${cseq} ${method}`,
      `Contact: <sip:phone@127.0.0.1:${this.localPort}>`,
      'User-Agent: mcu-e2e',
    ];
    if (body) lines.push('Content-Type: application/sdp');
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
    this.sock.send(lines.join('\r\n'), this.serverPort, '127.0.0.1');
  }

  /** Resolves with the first final response (>= 200) to (cseq, method). */
  finalResponse(cseq, method, timeoutMs) {
    const find = () => this.received.find((m) => {
      const status = /^SIP\/2\.0 (\d{3})/.exec(m);
      const cs = /\r\nCSeq:\s*(\d+)\s+(\w+)/i.exec(m);
      return status && cs && Number(cs[1]) === cseq && cs[2] === method && Number(status[1]) >= 200;
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no final response to ${method} within ${timeoutMs} ms; got: ${this.received.map((m) => m.split('\r\n')[0]).join(' | ')}`)), timeoutMs);
      const check = () => {
        const m = find();
        if (!m) {
          this.waiters.push(check);
          return;
        }
        clearTimeout(timer);
        resolve({ status: Number(m.slice(8, 11)), msg: m });
      };
      check();
    });
  }
}

/** The SDP offer of an H.264 + PCMU desk phone; its RTP ports are only announced (ffmpeg sends from others). */
export function sipOfferSDP(audioPort, videoPort) {
  return [
    'v=0', 'o=phone 1 1 IN IP4 127.0.0.1', 's=call', 'c=IN IP4 127.0.0.1', 't=0 0',
    `m=audio ${audioPort} RTP/AVP 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15', 'a=ptime:20', 'a=sendrecv',
    `m=video ${videoPort} RTP/AVP 96`, 'a=rtpmap:96 H264/90000',
    'a=fmtp:96 profile-level-id=42e01f;packetization-mode=1', 'a=sendrecv', '',
  ].join('\r\n');
}
