// The room page: join, one peer connection, controls, roster, stats. Entry module of room.html.

import { $, setState, showBanner, hideBanner, setStatus, Roster, renderStats, renderQuality } from './ui.js';
import { Signaling, signalingURL } from './signaling.js';
import { Peer } from './peer.js';
import { getLocalMedia, isLive, stopLocalMedia } from './media.js';
import { StatsPoller } from './stats.js';
import { RemotePlayer } from './player.js';
import { pickIceServers, queryFlag, roomFromPath } from './params.js';
import { Chat } from './chat.js';

/** Reconnection attempts after the WebSocket closes, with delays 1, 2, 4, 8, 16, 16 s. */
const MAX_RETRIES = 6;
/** A session that lasted this long resets the retry count when it drops. */
const STABLE_MS = 10000;

/**
 * @typedef {object} PageParams
 * @property {string} room from the path /room/NAME (decoded; empty if the path has none)
 * @property {string} name ?name=
 * @property {boolean} autojoin ?autojoin=1 (joins at once when a name is given)
 * @property {boolean} rawAudio ?rawaudio=1 (no echo cancellation, noise suppression, auto gain)
 * @property {number|null} maxKbps ?maxkbps=N, passed along in "join"
 * @property {'grid'|'speaker'} layout ?layout=speaker, else grid
 * @property {boolean} debug ?debug=1 logs the signalling to the console
 * @property {string} token ?access_token= (or ?token=): the room access token, sent in "join"
 * @property {boolean} relay ?relay=1 sends everything through the TURN relay (iceTransportPolicy "relay")
 * @property {string|null} turn ?turn=udp|tcp|tls keeps only the TURN URLs of that transport
 */

/**
 * Reads the page parameters from its address.
 * @param {Location|URL} loc
 * @returns {PageParams}
 */
export function parseParams(loc) {
  const q = new URLSearchParams(loc.search);
  const kbps = Number.parseInt(q.get('maxkbps') || '', 10);
  return {
    room: roomFromPath(loc, 'room'),
    name: (q.get('name') || '').trim(),
    autojoin: queryFlag(q, 'autojoin'),
    rawAudio: queryFlag(q, 'rawaudio'),
    maxKbps: Number.isFinite(kbps) && kbps > 0 ? kbps : null,
    layout: q.get('layout') === 'speaker' ? 'speaker' : 'grid',
    lowBandwidth: queryFlag(q, 'lowbw'),
    debug: queryFlag(q, 'debug'),
    token: q.get('access_token') || q.get('token') || '',
    relay: queryFlag(q, 'relay'),
    turn: ['udp', 'tcp', 'tls'].includes(q.get('turn') || '') ? q.get('turn') : null,
  };
}

const params = parseParams(window.location);
const log = params.debug ? (/** @type {any[]} */ ...a) => console.debug('[mcu]', ...a) : () => {};

const els = {
  name: /** @type {HTMLInputElement} */ ($('name')),
  local: /** @type {HTMLVideoElement} */ ($('local')),
  localWrap: $('local-wrap'),
  mic: /** @type {HTMLButtonElement} */ ($('mic')),
  cam: /** @type {HTMLButtonElement} */ ($('cam')),
  layout: /** @type {HTMLButtonElement} */ ($('layout')),
  lowbw: /** @type {HTMLButtonElement} */ ($('lowbw')),
  statsToggle: /** @type {HTMLButtonElement} */ ($('stats-toggle')),
  record: /** @type {HTMLButtonElement} */ ($('record')),
  share: /** @type {HTMLButtonElement} */ ($('share')),
  presenting: $('presenting'),
  recBadge: $('rec-badge'),
  liveBadge: $('live-badge'),
  stats: $('stats'),
  notice: $('media-notice'),
};
const roster = new Roster(/** @type {HTMLUListElement} */ ($('roster')), $('count'), (id) => togglePin(id));
const chat = new Chat({
  list: /** @type {HTMLOListElement} */ ($('chat')),
  form: /** @type {HTMLFormElement} */ ($('chat-form')),
  input: /** @type {HTMLInputElement} */ ($('chat-input')),
  file: /** @type {HTMLInputElement} */ ($('chat-file')),
}, (text) => showBanner(text, 'info'));
const player = new RemotePlayer(/** @type {HTMLVideoElement} */ ($('composite')), /** @type {HTMLButtonElement} */ ($('start-audio')));

/** Everything about the current call. */
const call = {
  /** @type {import('./ui.js').State} */
  state: 'idle',
  /** @type {string|null} our participant id, from "joined" */
  id: null,
  name: '',
  /** @type {'grid'|'speaker'} */
  layout: params.layout,
  lowBandwidth: params.lowBandwidth,
  /** @type {import('./media.js').LocalMedia|null} */
  media: null,
  /** @type {Signaling|null} */
  sig: null,
  /** @type {Peer|null} */
  peer: null,
  /** @type {StatsPoller|null} */
  poller: null,
  /** @type {import('./stats.js').McuStats|null} */
  lastStats: null,
  audioMuted: false, // the user's choice; a missing microphone counts as muted on the wire
  videoMuted: false,
  retries: 0,
  retryTimer: 0,
  /** @type {string|null} the WebSocket of the server that serves the room, when another sent us there ("moved") */
  movedTo: null,
  /** how many "moved" this join followed (a few at most: the cluster may be settling a new room) */
  moves: 0,
  joinedAt: 0,
  /** the room is being recorded / streamed out (from "joined" and "room") */
  recording: false,
  streaming: false,
  /** our token lets us start and stop recordings ("joined".canRecord) */
  canRecord: false,
  /** who presents (from "joined" and "room"), and their name */
  presenter: '',
  presenterName: '',
  /** @type {MediaStreamTrack|null} our screen, while we share it */
  screen: null,
  /** the participant we pinned ("" for none) */
  pin: '',
};

/** @param {import('./ui.js').State} s */
function enter(s) {
  call.state = s;
  setState(s);
  publishSelf();
}

/** Publishes window.mcuSelf and body[data-media] for tests. */
function publishSelf() {
  const m = call.media;
  const hasAudio = !!m?.audio;
  const hasVideo = !!m?.video;
  window.mcuSelf = {
    id: call.id,
    room: params.room,
    name: call.name,
    layout: call.layout,
    hasAudio,
    hasVideo,
    audioMuted: call.audioMuted || !hasAudio,
    videoMuted: call.videoMuted || !hasVideo,
    recording: call.recording,
    streaming: call.streaming,
    canRecord: call.canRecord,
    presenter: call.presenter,
    sharing: !!call.screen,
    pin: call.pin,
  };
  document.body.dataset.media = m ? [hasAudio && 'audio', hasVideo && 'video'].filter(Boolean).join('+') || 'none' : '';
}

// ---- joining and leaving ----

/** Joins the room: camera and microphone first (as available), then the signalling socket. */
async function join() {
  if (call.state === 'joining' || call.state === 'joined') return;
  const name = els.name.value.trim() || params.name;
  if (!params.room) {
    showBanner('This address names no room: open /room/NAME.');
    return;
  }
  if (!name) {
    els.name.focus();
    return;
  }
  call.name = name;
  try {
    localStorage.setItem('mcu.name', name);
  } catch { /* storage disabled */ }
  rememberName(name);
  call.retries = 0;
  call.audioMuted = false;
  call.videoMuted = false;
  hideBanner();
  enter('joining');
  setStatus('Starting camera and microphone…');
  if (!isLive(call.media)) {
    stopLocalMedia(call.media);
    call.media = null;
    const media = await getLocalMedia({ rawAudio: params.rawAudio });
    if (call.state !== 'joining') {
      stopLocalMedia(media); // left while the browser was asking
      return;
    }
    call.media = media;
  }
  showLocalMedia();
  connect();
}

/** Keeps the name in the address, so that a reload rejoins as the same person. */
function rememberName(name) {
  const url = new URL(window.location.href);
  if (url.searchParams.get('name') === name) return;
  url.searchParams.set('name', name);
  history.replaceState(null, '', url);
}

/** Opens the signalling socket and sends "join" once it is open. */
function connect() {
  window.clearTimeout(call.retryTimer);
  setStatus('Connecting…');
  const sig = new Signaling(call.movedTo || signalingURL(), {
    onOpen: () => {
      /** @type {Record<string, any>} */
      const msg = { type: 'join', room: params.room, name: call.name, layout: call.layout };
      if (params.token) msg.token = params.token;
      const kbps = capKbps();
      if (kbps) msg.maxKbps = kbps;
      send(msg);
    },
    onMessage: (msg) => onMessage(sig, msg),
    onClose: (ev) => onSocketClosed(sig, ev),
    onError: (err, msg) => {
      log('signalling error', err, msg);
      if (msg && ['offer', 'answer'].includes(msg.type)) showBanner(`Media negotiation failed: ${errText(err)}`);
    },
  });
  call.sig = sig;
}

/**
 * Sends one signalling message on the current socket.
 * @param {{type: string}} msg
 */
function send(msg) {
  log('→', msg);
  call.sig?.send(msg);
}

/**
 * @param {Signaling} sig the socket the message came from
 * @param {any} msg
 */
async function onMessage(sig, msg) {
  if (sig !== call.sig) return;
  log('←', msg);
  switch (msg.type) {
    case 'joined':
      onJoined(msg);
      break;
    case 'offer':
    case 'answer':
    case 'candidate':
      await call.peer?.handle(msg);
      break;
    case 'participant-joined':
      if (msg.participant && msg.participant.id !== call.id) roster.upsert(msg.participant);
      break;
    case 'participant-left':
      if (msg.id !== call.id) roster.remove(msg.id);
      break;
    case 'speaking':
      roster.setSpeaking(msg.id, !!msg.speaking);
      break;
    case 'muted':
      roster.setMuted(msg.id, !!msg.audio, !!msg.video);
      break;
    case 'room':
      setRoomState(!!msg.recording, !!msg.streaming);
      setPresenter(String(msg.presenter || ''), String(msg.presenterName || ''));
      break;
    case 'quality':
      window.mcuQuality = msg;
      renderQuality(msg);
      break;
    case 'error':
      if (msg.code === 'moved' && call.state === 'joining') {
        moveTo(sig, String(msg.url || ''));
        break;
      }
      if (msg.code === 'unavailable' && call.state === 'joining') {
        // The cluster cannot place the room right now: like a lost connection, try again shortly.
        sig.close();
        onSocketClosed(sig, new CloseEvent('close', { code: 4000, reason: 'unavailable' }));
        break;
      }
      onServerError(msg);
      break;
    default: // unknown types are ignored: newer servers may send more
  }
}

/** @param {any} msg the "joined" message */
function onJoined(msg) {
  if (call.state !== 'joining' || !call.media) return;
  call.id = String(msg.id);
  if (typeof msg.name === 'string' && msg.name) call.name = msg.name; // the access token's name, if any
  call.joinedAt = Date.now();
  call.canRecord = !!msg.canRecord;
  setRoomState(!!msg.recording, !!msg.streaming);
  setPresenter(String(msg.presenter || ''), String(msg.presenterName || ''));
  if (call.pin) send({ type: 'pin', id: call.pin }); // a rejoin keeps the pin (if they are still there)
  const media = call.media;
  roster.reset(
    { id: call.id, name: call.name, audioMuted: call.audioMuted || !media.audio, videoMuted: call.videoMuted || !media.video },
    Array.isArray(msg.participants) ? msg.participants : [],
  );
  teardownPeer();
  const peer = new Peer({
    iceServers: pickIceServers(Array.isArray(msg.iceServers) ? msg.iceServers : [], params.turn),
    relay: params.relay,
    stream: media.stream,
    audio: media.audio,
    video: media.video,
    send,
    onTrack: (t) => player.addTrack(t),
    onConnectionState: onPeerState,
    onError: (err) => {
      log('peer error', err);
      showBanner(`Media negotiation failed: ${errText(err)}`);
    },
  });
  call.peer = peer;
  // Every join gets the room's history again; a room that ended and started again numbers its messages
  // from 1 again, which the ids of the old ones would hide: start the list afresh.
  chat.clear();
  chat.attach(peer.chat);
  window.mcuPeer = peer.pc;
  window.mcuStats = null;
  call.poller = new StatsPoller(peer.pc, (s) => {
    call.lastStats = s;
    window.mcuStats = s;
    if (!els.stats.hidden) renderStats(s);
  });
  call.poller.start();
  if (call.audioMuted || call.videoMuted || !media.audio || !media.video) sendMute();
  hideBanner();
  enter('joined');
  setStatus('Connecting media…');
}

/** @param {string} s the peer connection's state */
function onPeerState(s) {
  if (call.state !== 'joined') return;
  const text = {
    new: 'Connecting media…',
    checking: 'Connecting media…',
    connecting: 'Connecting media…',
    connected: 'Connected',
    completed: 'Connected',
    disconnected: 'Media interrupted, reconnecting…',
    failed: 'Media connection failed, retrying…',
  }[s];
  if (text) setStatus(text);
}

/** Errors that end a join for good: retrying cannot help. */
const FATAL_JOIN_ERRORS = {
  'room-full': 'Could not join',
  'server-full': 'Could not join',
  'token-expired': 'This link has expired',
  unauthorized: 'This link is not valid',
  forbidden: 'This link does not let you in',
};

/** @param {{code?: string, message?: string}} msg */
function onServerError(msg) {
  const text = msg.message || msg.code || 'Server error';
  const title = FATAL_JOIN_ERRORS[/** @type {keyof typeof FATAL_JOIN_ERRORS} */ (msg.code || '')];
  if (call.state === 'joining' && title) {
    const hint = msg.code === 'token-expired' || msg.code === 'unauthorized' || msg.code === 'forbidden'
      ? ' Ask whoever invited you for a new link.' : '';
    fail(title, text + hint);
    return;
  }
  showBanner(text);
}

/**
 * Joins through the server that serves the room, which the one we asked named (several servers sharing
 * rooms). A reconnection starts again from our own server, which knows where the room is then.
 * @param {Signaling} sig @param {string} url its WebSocket
 */
function moveTo(sig, url) {
  let u;
  try {
    u = new URL(url);
  } catch {
    u = null;
  }
  if (!u || (u.protocol !== 'wss:' && u.protocol !== 'ws:') || call.moves >= 3) {
    fail('Cannot join', 'The servers could not agree where this room is; try again in a moment.');
    return;
  }
  log('moved to', u.href);
  call.moves++;
  call.movedTo = u.href;
  call.sig = null;
  sig.close();
  connect();
}

/**
 * @param {Signaling} sig
 * @param {CloseEvent} ev
 */
function onSocketClosed(sig, ev) {
  if (sig !== call.sig) return;
  log('socket closed', ev.code, ev.reason);
  call.sig = null;
  call.movedTo = null;
  call.moves = 0;
  dropCall();
  if (call.state !== 'joining' && call.state !== 'joined') return;
  if (call.joinedAt && Date.now() - call.joinedAt > STABLE_MS) call.retries = 0;
  call.joinedAt = 0;
  if (call.retries >= MAX_RETRIES) {
    fail('Disconnected', 'The server cannot be reached.');
    return;
  }
  const delay = Math.min(1000 * 2 ** call.retries, 16000);
  call.retries++;
  enter('joining');
  showBanner('Disconnected from the server; trying to rejoin.', 'warning');
  const due = Date.now() + delay;
  const attempt = call.retries;
  const tick = () => {
    if (call.state !== 'joining' || call.sig) return;
    const left = Math.max(0, Math.ceil((due - Date.now()) / 1000));
    setStatus(`Disconnected, retrying in ${left} s (attempt ${attempt} of ${MAX_RETRIES})`);
    if (left > 0) window.setTimeout(tick, 1000);
  };
  tick();
  call.retryTimer = window.setTimeout(connect, delay);
}

/** Drops the peer connection, the remote picture and the roster (local media stays). */
function dropCall() {
  teardownPeer();
  player.reset();
  roster.reset(null, []);
  call.id = null;
}

function teardownPeer() {
  if (call.screen) {
    call.screen.stop(); // a new connection starts without a screen: share again to present
    call.screen = null;
  }
  call.poller?.stop();
  call.poller = null;
  call.peer?.close();
  call.peer = null;
  window.mcuPeer = null;
}

/** Ends everything: socket, retries, peer connection, camera and microphone. */
function hangUp() {
  window.clearTimeout(call.retryTimer);
  if (call.sig) {
    send({ type: 'leave' });
    call.sig.close();
    call.sig = null;
  }
  dropCall();
  hideBanner();
  stopLocalMedia(call.media);
  call.media = null;
  els.local.srcObject = null;
  setStatus('');
}

/** Leaves the room at the user's request. */
function leave() {
  if (call.state !== 'joining' && call.state !== 'joined') return;
  hangUp();
  $('left-title').textContent = 'You left the room';
  $('left-text').textContent = `You left ${params.room}.`;
  $('rejoin').textContent = 'Rejoin';
  enter('left');
}

/**
 * Gives up after a fatal error.
 * @param {string} title
 * @param {string} text
 */
function fail(title, text) {
  hangUp();
  $('left-title').textContent = title;
  $('left-text').textContent = text;
  $('rejoin').textContent = 'Try again';
  enter('error');
}

/** @param {unknown} err */
function errText(err) {
  return err instanceof Error ? err.message : String(err);
}

// ---- local media and controls ----

function showLocalMedia() {
  const m = call.media;
  if (!m) return;
  els.local.srcObject = m.video ? m.stream : null;
  els.localWrap.classList.toggle('no-video', !m.video);
  els.notice.textContent = m.notice;
  els.notice.hidden = !m.notice;
  if (m.audio) m.audio.enabled = !call.audioMuted;
  if (m.video) m.video.enabled = !call.videoMuted;
  updateControls();
}

/** Tells the server what we send: a missing device counts as muted. */
function sendMute() {
  const m = call.media;
  const audio = call.audioMuted || !m?.audio;
  const video = call.videoMuted || !m?.video;
  send({ type: 'mute', audio, video });
  if (call.id) roster.setMuted(call.id, audio, video);
}

function toggleMic() {
  const t = call.media?.audio;
  if (!t) return;
  call.audioMuted = !call.audioMuted;
  t.enabled = !call.audioMuted;
  sendMute();
  updateControls();
}

function toggleCam() {
  const t = call.media?.video;
  if (!t) return;
  call.videoMuted = !call.videoMuted;
  t.enabled = !call.videoMuted;
  sendMute();
  updateControls();
}

function toggleLayout() {
  call.layout = call.layout === 'grid' ? 'speaker' : 'grid';
  if (call.state === 'joined') send({ type: 'layout', layout: call.layout });
  updateControls();
}

/** The downstream cap in kbit/s (0 = none): ?maxkbps, tightened to 300 by the low-bandwidth option. */
const LOW_BANDWIDTH_KBPS = 300;
function capKbps() {
  const caps = [params.maxKbps || 0, call.lowBandwidth ? LOW_BANDWIDTH_KBPS : 0].filter((k) => k > 0);
  return caps.length ? Math.min(...caps) : 0;
}

function toggleLowBandwidth() {
  call.lowBandwidth = !call.lowBandwidth;
  if (call.state === 'joined') send({ type: 'caps', maxKbps: capKbps() });
  updateControls();
}

/**
 * Shows whether the room is recorded or streamed: everyone sees it.
 * @param {boolean} recording
 * @param {boolean} streaming
 */
function setRoomState(recording, streaming) {
  call.recording = recording;
  call.streaming = streaming;
  els.recBadge.hidden = !recording;
  els.liveBadge.hidden = !streaming;
  document.body.dataset.recording = String(recording);
  updateControls();
}

/**
 * Shows who presents: "Ann is presenting", or "You are presenting" (we then see the others, not our own
 * screen). A share of ours that someone else took over ends here.
 * @param {string} id
 * @param {string} name
 */
function setPresenter(id, name) {
  call.presenter = id;
  call.presenterName = name;
  const mine = id !== '' && id === call.id;
  if (call.screen && !mine) endScreen(false); // taken over, or stopped by the server
  els.presenting.hidden = id === '';
  els.presenting.textContent = mine ? 'You are presenting' : `${name || 'Someone'} is presenting`;
  document.body.dataset.presenter = id;
  updateControls();
}

async function toggleShare() {
  if (call.state !== 'joined' || !call.peer) return;
  if (call.screen) {
    endScreen(true);
    return;
  }
  let track;
  try {
    const display = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 }, audio: false });
    track = display.getVideoTracks()[0];
  } catch (err) {
    showBanner(`Screen sharing did not start: ${errText(err)}`, 'info');
    return;
  }
  if (!track || !call.peer) return;
  call.screen = track;
  track.contentHint = 'text';
  track.addEventListener('ended', () => endScreen(true)); // the browser's own "Stop sharing"
  const stream = call.peer.screenId();
  send({ type: 'screen', on: true, stream: stream.id });
  await call.peer.shareScreen(track);
  updateControls();
}

/**
 * Stops our screen: tells the server (unless it is the server that stopped it) and stops capturing.
 * @param {boolean} tell
 */
function endScreen(tell) {
  const t = call.screen;
  if (!t) return;
  call.screen = null;
  if (tell) send({ type: 'screen', on: false });
  t.stop();
  call.peer?.stopScreen().catch((err) => log('stop screen', err));
  updateControls();
}

/** @param {string} id the participant whose Pin button was clicked */
function togglePin(id) {
  call.pin = call.pin === id ? '' : id;
  roster.setPinned(call.pin);
  publishSelf();
  if (call.state === 'joined') send({ type: 'pin', id: call.pin });
}

function toggleRecord() {
  if (call.state === 'joined' && call.canRecord) send({ type: 'record', on: !call.recording });
}

function toggleStats() {
  els.stats.hidden = !els.stats.hidden;
  els.statsToggle.setAttribute('aria-pressed', String(!els.stats.hidden));
  if (!els.stats.hidden && call.lastStats) renderStats(call.lastStats);
}

/**
 * @param {HTMLButtonElement} b
 * @param {boolean} pressed
 * @param {string} label
 * @param {string} title
 */
function setButton(b, pressed, label, title) {
  b.setAttribute('aria-pressed', String(pressed));
  b.classList.toggle('off', pressed);
  /** @type {HTMLElement} */ (b.querySelector('.lbl')).textContent = label;
  b.title = title;
}

function updateControls() {
  const m = call.media;
  els.mic.disabled = !m?.audio;
  els.cam.disabled = !m?.video;
  const micOff = call.audioMuted || !m?.audio;
  const camOff = call.videoMuted || !m?.video;
  setButton(els.mic, micOff, !m?.audio ? 'No mic' : micOff ? 'Unmute' : 'Mute', micOff ? 'Unmute microphone' : 'Mute microphone');
  setButton(els.cam, camOff, !m?.video ? 'No camera' : camOff ? 'Camera on' : 'Camera off', camOff ? 'Turn camera on' : 'Turn camera off');
  els.localWrap.classList.toggle('off', call.videoMuted);
  els.layout.dataset.layout = call.layout;
  /** @type {HTMLElement} */ (els.layout.querySelector('.lbl')).textContent = call.layout === 'grid' ? 'Speaker view' : 'Grid view';
  els.layout.title = call.layout === 'grid' ? 'Switch to speaker view' : 'Switch to grid view';
  setButton(els.lowbw, call.lowBandwidth, call.lowBandwidth ? 'Full quality' : 'Low bandwidth',
    call.lowBandwidth ? 'Receive the full-quality stream' : `Receive at most ${LOW_BANDWIDTH_KBPS} kbit/s`);
  els.record.hidden = !call.canRecord;
  els.share.hidden = !navigator.mediaDevices || typeof navigator.mediaDevices.getDisplayMedia !== 'function';
  setButton(els.share, !!call.screen, call.screen ? 'Stop sharing' : 'Share screen',
    call.screen ? 'Stop sharing your screen' : 'Share your screen');
  setButton(els.record, call.recording, call.recording ? 'Stop recording' : 'Record',
    call.recording ? 'Stop recording the room' : 'Record the room');
  publishSelf();
}

// ---- wiring ----

function init() {
  window.mcuStats = null;
  window.mcuPeer = null;
  document.title = params.room ? `${params.room} · OpenMCU` : 'OpenMCU';
  $('room-title').textContent = params.room;
  $('join-room').textContent = params.room || '(no room)';
  let stored = '';
  try {
    stored = localStorage.getItem('mcu.name') || '';
  } catch { /* storage disabled */ }
  els.name.value = params.name || stored;

  $('join-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    join();
  });
  els.mic.addEventListener('click', toggleMic);
  els.cam.addEventListener('click', toggleCam);
  els.layout.addEventListener('click', toggleLayout);
  els.lowbw.addEventListener('click', toggleLowBandwidth);
  els.statsToggle.addEventListener('click', toggleStats);
  els.record.addEventListener('click', toggleRecord);
  els.share.addEventListener('click', () => { toggleShare().catch((err) => log('share', err)); });
  $('leave').addEventListener('click', leave);
  $('rejoin').addEventListener('click', () => join());
  $('banner-close').addEventListener('click', hideBanner);
  window.addEventListener('pagehide', () => {
    if (call.sig) send({ type: 'leave' });
  });

  enter('idle');
  updateControls();
  if (!params.room) {
    showBanner('This address names no room: open /room/NAME.');
    /** @type {HTMLButtonElement} */ ($('join')).disabled = true;
    return;
  }
  if (params.autojoin && params.name) join();
  else els.name.focus();
}

init();
