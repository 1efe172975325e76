// The one RTCPeerConnection: two transceivers (audio, video), H.264 preferred, trickle ICE, and perfect
// negotiation with this side impolite (on an offer collision the server's offer is ignored and ours wins).

/**
 * Ranks video codecs for setCodecPreferences: H.264 Constrained Baseline 42e01f with packetization-mode 1
 * first, then other H.264 with packetization-mode 1, other H.264, then everything else (VP8, VP9, AV1, and
 * rtx/red/ulpfec) in the browser's order. Nothing is dropped.
 * @template {{mimeType: string, sdpFmtpLine?: string}} C
 * @param {C[]} codecs
 * @returns {C[]} a new, stably sorted array
 */
export function sortVideoCodecs(codecs) {
  const rank = (/** @type {C} */ c) => {
    if (c.mimeType.toLowerCase() !== 'video/h264') return 3;
    const fmtp = (c.sdpFmtpLine || '').toLowerCase();
    const pm1 = /(^|;)\s*packetization-mode=1/.test(fmtp);
    if (pm1 && /profile-level-id=42e01f/.test(fmtp)) return 0;
    return pm1 ? 1 : 2;
  };
  return codecs
    .map((c, i) => ({ c, i, r: rank(c) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.c);
}

/**
 * Puts H.264 first on a video transceiver, when the browser lets us; otherwise leaves its defaults.
 * @param {RTCRtpTransceiver} transceiver
 * @returns {boolean} whether preferences were set
 */
export function preferH264(transceiver) {
  if (typeof transceiver.setCodecPreferences !== 'function') return false;
  const sources = [globalThis.RTCRtpReceiver, globalThis.RTCRtpSender];
  for (const src of sources) {
    const caps = src && typeof src.getCapabilities === 'function' ? src.getCapabilities('video') : null;
    if (!caps || !caps.codecs || !caps.codecs.some((c) => c.mimeType.toLowerCase() === 'video/h264')) continue;
    try {
      transceiver.setCodecPreferences(sortVideoCodecs(caps.codecs));
      return true;
    } catch { /* try the other capability list, else keep the defaults */ }
  }
  return false;
}

/**
 * @typedef {object} PeerOptions
 * @property {RTCIceServer[]} iceServers from the server's "joined" message
 * @property {boolean} [relay] use only the TURN relay (iceTransportPolicy "relay")
 * @property {MediaStream} stream the local stream (the msid of the sent tracks)
 * @property {MediaStreamTrack|null} audio local microphone, or null for receive-only audio
 * @property {MediaStreamTrack|null} video local camera, or null for receive-only video
 * @property {(msg: object) => void} send sends a signalling message (offer, answer, candidate)
 * @property {(track: MediaStreamTrack) => void} onTrack a remote track arrived
 * @property {(state: string) => void} [onConnectionState] connection state changes
 * @property {(err: unknown) => void} [onError] a negotiation step failed
 */

/** The call's peer connection and its negotiation state. */
export class Peer {
  /** @param {PeerOptions} opts */
  constructor(opts) {
    this.opts = opts;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.closed = false;
    this.iceRestarts = 0;
    /** @type {(RTCIceCandidateInit|null)[]} remote candidates that arrived before a remote description */
    this.pendingCandidates = [];
    const pc = new RTCPeerConnection({ iceServers: opts.iceServers || [], bundlePolicy: 'max-bundle',
      iceTransportPolicy: opts.relay ? 'relay' : 'all' });
    this.pc = pc;

    // m-line 0 audio, m-line 1 video; recvonly where there is nothing to send.
    this.audioTransceiver = opts.audio
      ? pc.addTransceiver(opts.audio, { direction: 'sendrecv', streams: [opts.stream] })
      : pc.addTransceiver('audio', { direction: 'recvonly' });
    this.videoTransceiver = opts.video
      ? pc.addTransceiver(opts.video, { direction: 'sendrecv', streams: [opts.stream] })
      : pc.addTransceiver('video', { direction: 'recvonly' });
    preferH264(this.videoTransceiver);
    /** @type {RTCRtpTransceiver|null} the screen's (m-line 2), added by the first shareScreen */
    this.screenTransceiver = null;
    /** @type {MediaStream|null} the screen track's stream: its id tells the server which video is the screen */
    this.screenStream = null;
    // The chat channel (data channel "chat"): created before the first offer so that it is negotiated with it.
    this.chat = pc.createDataChannel('chat', { ordered: true });

    pc.addEventListener('track', (ev) => opts.onTrack(ev.track));
    pc.addEventListener('icecandidate', (ev) => this.sendCandidate(ev.candidate));
    pc.addEventListener('negotiationneeded', () => this.negotiate());
    const stateEvent = 'connectionState' in pc ? 'connectionstatechange' : 'iceconnectionstatechange';
    pc.addEventListener(stateEvent, () => this.stateChanged());
  }

  /**
   * Starts sending a screen track: the first time on a new sendonly transceiver (which renegotiates),
   * later by putting the track back on it. The caller first sends the "screen" message with
   * screenId().id, so that the server knows the track when the offer comes.
   * @param {MediaStreamTrack} track
   */
  async shareScreen(track) {
    if (this.screenTransceiver) {
      await this.screenTransceiver.sender.replaceTrack(track);
      if (this.screenTransceiver.direction !== 'sendonly') this.screenTransceiver.direction = 'sendonly';
      return;
    }
    this.screenTransceiver = this.pc.addTransceiver(track, { direction: 'sendonly', streams: [this.screenId()] });
    preferH264(this.screenTransceiver);
  }

  /** The stream the screen track is sent in (created once, so its id stays the same for every share). */
  screenId() {
    if (!this.screenStream) this.screenStream = new MediaStream();
    return this.screenStream;
  }

  /** Stops sending the screen (the transceiver stays, inactive, for the next share). */
  async stopScreen() {
    const t = this.screenTransceiver;
    if (!t) return;
    await t.sender.replaceTrack(null);
    if (t.direction !== 'inactive') t.direction = 'inactive';
  }

  /** @returns {string} connectionState (or iceConnectionState where the former is missing) */
  get state() {
    return this.pc.connectionState || this.pc.iceConnectionState;
  }

  /** Creates and sends an offer (initially, and whenever the browser needs to renegotiate). */
  async negotiate() {
    if (this.closed) return;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      if (this.closed || !this.pc.localDescription) return;
      this.opts.send({ type: 'offer', sdp: this.pc.localDescription.sdp });
    } catch (err) {
      if (!this.closed) this.opts.onError?.(err);
    } finally {
      this.makingOffer = false;
    }
  }

  /** @param {RTCIceCandidate|null} c */
  sendCandidate(c) {
    if (this.closed) return;
    if (c && !c.candidate) return; // Firefox's per-generation "" end marker; the null below covers it
    this.opts.send({
      type: 'candidate',
      candidate: c ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null,
    });
  }

  /**
   * Applies one signalling message from the server: "offer" (answered), "answer", or "candidate".
   * Messages must be given one at a time, in order (Signaling does that).
   * @param {{type: string, sdp?: string, candidate?: RTCIceCandidateInit|null}} msg
   * @returns {Promise<void>}
   */
  async handle(msg) {
    if (this.closed) return;
    if (msg.type === 'candidate') return this.addCandidate(msg.candidate ?? null);
    if (msg.type !== 'offer' && msg.type !== 'answer') return;
    if (typeof msg.sdp !== 'string') throw new Error(`${msg.type} without sdp`);
    const pc = this.pc;
    const collision = msg.type === 'offer' && (this.makingOffer || pc.signalingState !== 'stable');
    this.ignoreOffer = collision; // impolite: our own offer wins, the server must roll back
    if (this.ignoreOffer) return;
    if (msg.type === 'answer' && pc.signalingState !== 'have-local-offer') return; // stale answer
    await pc.setRemoteDescription({ type: msg.type, sdp: msg.sdp });
    if (msg.type === 'offer') {
      await pc.setLocalDescription();
      if (this.closed || !pc.localDescription) return;
      this.opts.send({ type: 'answer', sdp: pc.localDescription.sdp });
    }
    const pending = this.pendingCandidates.splice(0);
    for (const c of pending) await this.addCandidate(c);
  }

  /** @param {RTCIceCandidateInit|null} c null = end of candidates */
  async addCandidate(c) {
    if (!this.pc.remoteDescription) {
      if (!this.ignoreOffer) this.pendingCandidates.push(c);
      return;
    }
    try {
      if (c && c.candidate) await this.pc.addIceCandidate(c);
      else await this.pc.addIceCandidate();
    } catch (err) {
      // Candidates of an ignored offer, or an end marker an older browser refuses, are expected to fail.
      if (!this.ignoreOffer && c && c.candidate) this.opts.onError?.(err);
    }
  }

  stateChanged() {
    const s = this.state;
    this.opts.onConnectionState?.(s);
    if (s === 'connected') this.iceRestarts = 0;
    if (s === 'failed' && this.iceRestarts < 3 && typeof this.pc.restartIce === 'function') {
      this.iceRestarts++;
      this.pc.restartIce(); // fires negotiationneeded: a new offer with fresh credentials
    }
  }

  /** Closes the connection; local tracks stay alive (the caller owns them). */
  close() {
    if (this.closed) return;
    this.closed = true;
    this.pendingCandidates = [];
    try {
      this.pc.close();
    } catch { /* already closed */ }
  }
}
