// Live call statistics from RTCPeerConnection.getStats(), summarised once a second.

/**
 * @typedef {object} McuStats the numbers the stats panel shows, also published as window.mcuStats
 * @property {number} time Date.now() of the sample
 * @property {number|null} kbpsIn received bitrate, audio + video, kbit/s (null on the first sample)
 * @property {number|null} kbpsOut sent bitrate, audio + video, kbit/s
 * @property {number|null} audioKbpsIn
 * @property {number|null} audioKbpsOut
 * @property {number|null} videoKbpsIn
 * @property {number|null} videoKbpsOut
 * @property {number|null} videoWidth received (composite) frame width
 * @property {number|null} videoHeight received frame height
 * @property {number|null} fps received frames per second
 * @property {number|null} sentWidth our camera as sent
 * @property {number|null} sentHeight
 * @property {number|null} lossInPct packets lost on the way to us in the last interval, %
 * @property {number|null} lossOutPct packets we sent that the server reported lost (RTCP), %
 * @property {number|null} rttMs round-trip time of the selected ICE candidate pair, ms
 * @property {string|null} route how the connection runs, from the selected pair's local candidate:
 *   "direct UDP", "direct TCP", "relay over UDP", "relay over TCP" or "relay over TLS" (null before one)
 * @property {{audioIn: string|null, audioOut: string|null, videoIn: string|null, videoOut: string|null}} codecs
 *   codec names, e.g. "opus", "H264", "VP8"
 * @property {number} bytesReceived totals since the call started
 * @property {number} bytesSent
 * @property {number} packetsReceived
 * @property {number} packetsLost
 * @property {number} framesDecoded
 * @property {number} keyFramesDecoded
 * @property {number|null} audioLevelIn received audio level 0..1 (where the browser reports it)
 * @property {string} connectionState
 */

/**
 * @typedef {Map<string, {timestamp: number, bytes: number, packets: number, lost: number, frames: number}>} Snapshot
 *   counters per stats id, kept to compute rates on the next sample
 */

const round1 = (/** @type {number} */ x) => Math.round(x * 10) / 10;

/** @param {any} s */
const kindOf = (s) => s.kind || s.mediaType;

/**
 * Summarises one getStats() report, using the previous sample's counters for rates.
 * @param {Map<string, any>|RTCStatsReport} report
 * @param {Snapshot|null} prev the snapshot returned by the previous call, or null
 * @param {string} [connectionState]
 * @returns {{stats: McuStats, snapshot: Snapshot}}
 */
export function summarize(report, prev, connectionState = '') {
  /** @type {Snapshot} */
  const snapshot = new Map();
  const rate = { audioIn: null, audioOut: null, videoIn: null, videoOut: null };
  /** @type {Record<string, any>} */
  const codecs = { audioIn: null, audioOut: null, videoIn: null, videoOut: null };
  const totals = { bytesReceived: 0, bytesSent: 0, packetsReceived: 0, packetsLost: 0, framesDecoded: 0, keyFramesDecoded: 0 };
  let video = { w: null, h: null, fps: null };
  let sent = { w: null, h: null };
  let dRecv = 0;
  let dLost = 0;
  let lossOutSum = 0;
  let lossOutWeight = 0;
  let rtt = null;
  let rttFallback = null;
  let audioLevel = null;
  /** @type {any} */
  let selectedPair = null;
  const pairs = [];
  /** @type {Map<string, number>} outbound id -> packets sent in the interval */
  const sentDelta = new Map();
  const remoteInbound = [];

  const codecName = (/** @type {any} */ s) => {
    const c = s.codecId ? report.get(s.codecId) : null;
    return c && c.mimeType ? c.mimeType.split('/')[1] : null;
  };
  /** @returns {number|null} kbit/s since the previous sample of this id */
  const kbps = (/** @type {any} */ s, /** @type {number} */ bytes) => {
    const p = prev && prev.get(s.id);
    if (!p || s.timestamp <= p.timestamp || bytes < p.bytes) return null;
    return ((bytes - p.bytes) * 8) / (s.timestamp - p.timestamp); // bytes*8/ms = kbit/s
  };
  const add = (/** @type {number|null} */ a, /** @type {number|null} */ b) => (b === null ? a : (a || 0) + b);

  report.forEach((/** @type {any} */ s) => {
    switch (s.type) {
      case 'inbound-rtp': {
        const kind = kindOf(s);
        const bytes = s.bytesReceived || 0;
        const packets = s.packetsReceived || 0;
        const lost = Math.max(0, s.packetsLost || 0);
        const frames = s.framesDecoded || 0;
        const p = prev && prev.get(s.id);
        snapshot.set(s.id, { timestamp: s.timestamp, bytes, packets, lost, frames });
        totals.bytesReceived += bytes;
        totals.packetsReceived += packets;
        totals.packetsLost += lost;
        if (p && packets >= p.packets && lost >= p.lost) {
          dRecv += packets - p.packets;
          dLost += lost - p.lost;
        }
        const r = kbps(s, bytes);
        if (kind === 'audio') {
          rate.audioIn = add(rate.audioIn, r);
          codecs.audioIn = codecName(s) || codecs.audioIn;
          if (typeof s.audioLevel === 'number') audioLevel = s.audioLevel;
        } else if (kind === 'video') {
          rate.videoIn = add(rate.videoIn, r);
          codecs.videoIn = codecName(s) || codecs.videoIn;
          totals.framesDecoded += frames;
          totals.keyFramesDecoded += s.keyFramesDecoded || 0;
          let fps = typeof s.framesPerSecond === 'number' ? s.framesPerSecond : null;
          if (fps === null && p && s.timestamp > p.timestamp && frames >= p.frames) {
            fps = ((frames - p.frames) * 1000) / (s.timestamp - p.timestamp);
          }
          if (s.frameWidth) video = { w: s.frameWidth, h: s.frameHeight, fps };
          else if (video.fps === null) video.fps = fps;
        }
        break;
      }
      case 'outbound-rtp': {
        const kind = kindOf(s);
        const bytes = s.bytesSent || 0;
        const packets = s.packetsSent || 0;
        const p = prev && prev.get(s.id);
        snapshot.set(s.id, { timestamp: s.timestamp, bytes, packets, lost: 0, frames: 0 });
        totals.bytesSent += bytes;
        if (p && packets >= p.packets) sentDelta.set(s.id, packets - p.packets);
        const r = kbps(s, bytes);
        if (kind === 'audio') {
          rate.audioOut = add(rate.audioOut, r);
          codecs.audioOut = codecName(s) || codecs.audioOut;
        } else if (kind === 'video') {
          rate.videoOut = add(rate.videoOut, r);
          codecs.videoOut = codecName(s) || codecs.videoOut;
          if (s.frameWidth) sent = { w: s.frameWidth, h: s.frameHeight };
        }
        break;
      }
      case 'remote-inbound-rtp':
        remoteInbound.push(s);
        if (typeof s.roundTripTime === 'number') rttFallback = s.roundTripTime * 1000;
        break;
      case 'transport':
        if (s.selectedCandidatePairId) selectedPair = report.get(s.selectedCandidatePairId) || selectedPair;
        break;
      case 'candidate-pair':
        pairs.push(s);
        break;
      default:
    }
  });

  // Loss out: the fraction the server reported in its last receiver report, weighted by what we sent.
  for (const s of remoteInbound) {
    if (typeof s.fractionLost !== 'number') continue;
    const w = sentDelta.get(s.localId) || 1;
    lossOutSum += s.fractionLost * 100 * w;
    lossOutWeight += w;
  }

  if (!selectedPair) {
    selectedPair = pairs.find((p) => p.selected) || pairs.find((p) => p.nominated && p.state === 'succeeded') || null;
  }
  if (selectedPair && typeof selectedPair.currentRoundTripTime === 'number') {
    rtt = selectedPair.currentRoundTripTime * 1000;
  } else {
    rtt = rttFallback;
  }

  const opt = (/** @type {number|null} */ x) => (x === null || !Number.isFinite(x) ? null : round1(x));
  const sum = (/** @type {number|null} */ a, /** @type {number|null} */ b) => (a === null && b === null ? null : (a || 0) + (b || 0));
  /** @type {McuStats} */
  const stats = {
    time: Date.now(),
    kbpsIn: opt(sum(rate.audioIn, rate.videoIn)),
    kbpsOut: opt(sum(rate.audioOut, rate.videoOut)),
    audioKbpsIn: opt(rate.audioIn),
    audioKbpsOut: opt(rate.audioOut),
    videoKbpsIn: opt(rate.videoIn),
    videoKbpsOut: opt(rate.videoOut),
    videoWidth: video.w,
    videoHeight: video.h,
    fps: opt(video.fps),
    sentWidth: sent.w,
    sentHeight: sent.h,
    lossInPct: dRecv + dLost > 0 ? round1((dLost * 100) / (dRecv + dLost)) : prev ? 0 : null,
    lossOutPct: lossOutWeight > 0 ? round1(lossOutSum / lossOutWeight) : null,
    rttMs: opt(rtt),
    route: routeOf(selectedPair ? report.get(selectedPair.localCandidateId) : null),
    codecs,
    ...totals,
    audioLevelIn: audioLevel,
    connectionState,
  };
  return { stats, snapshot };
}

/**
 * Says how a connection runs from its selected pair's local candidate stats: direct (host, srflx, prflx
 * candidates) or through a TURN relay, and over which transport to the server or relay.
 * A relayed connection can also run on a peer-reflexive local candidate: when the relay's datagrams reach
 * the server from another address than the relay address the TURN server advertised (a relay socket bound
 * to every interface sending to a loopback or second address of the server), the server's check
 * responses name that address and the browser learns it as a prflx candidate of the TURN port. Chromium
 * reports such a candidate with the relay's relayProtocol (and TURN url); a direct one has none.
 * @param {any} local the local-candidate stats, or null
 * @returns {string|null}
 */
export function routeOf(local) {
  if (!local) return null;
  if (local.candidateType === 'relay' || (local.candidateType === 'prflx' && local.relayProtocol)) {
    const via = String(local.relayProtocol || local.protocol || 'udp').toUpperCase();
    return `relay over ${via}`;
  }
  return `direct ${String(local.protocol || 'udp').toUpperCase()}`;
}

/** Polls a peer connection's statistics every interval and hands each summary to a callback. */
export class StatsPoller {
  /**
   * @param {RTCPeerConnection} pc
   * @param {(stats: McuStats) => void} onStats
   * @param {number} [intervalMs]
   */
  constructor(pc, onStats, intervalMs = 1000) {
    this.pc = pc;
    this.onStats = onStats;
    this.intervalMs = intervalMs;
    /** @type {Snapshot|null} */
    this.prev = null;
    this.timer = 0;
    this.busy = false;
  }

  /** Starts polling (the first sample comes after one interval). */
  start() {
    if (this.timer) return;
    this.timer = window.setInterval(() => this.sample(), this.intervalMs);
  }

  /** Stops polling. */
  stop() {
    window.clearInterval(this.timer);
    this.timer = 0;
  }

  async sample() {
    if (this.busy || this.pc.signalingState === 'closed') return;
    this.busy = true;
    try {
      const report = await this.pc.getStats();
      if (!this.timer) return;
      const { stats, snapshot } = summarize(report, this.prev, this.pc.connectionState || this.pc.iceConnectionState);
      this.prev = snapshot;
      this.onStats(stats);
    } catch { /* the connection closed under us */ } finally {
      this.busy = false;
    }
  }
}
