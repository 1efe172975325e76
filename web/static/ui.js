// DOM helpers: the page state, the banner, the status line, the roster and the stats panel.

/**
 * The element with this id (throws if the page lacks it: a typo, not a runtime condition).
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
export function $(id) {
  const e = document.getElementById(id);
  if (!e) throw new Error(`missing #${id}`);
  return /** @type {T} */ (e);
}

/** @typedef {'idle'|'joining'|'joined'|'left'|'error'} State */

/**
 * Sets the page state: window.mcuState, body[data-state], and which screen is visible (join form when idle,
 * the call while joining or joined, the "you left" screen when left or after a fatal error).
 * @param {State} state
 */
export function setState(state) {
  window.mcuState = state;
  document.body.dataset.state = state;
  $('join-screen').hidden = state !== 'idle';
  $('call').hidden = state !== 'joining' && state !== 'joined';
  $('left-screen').hidden = state !== 'left' && state !== 'error';
}

/**
 * Shows the dismissible banner.
 * @param {string} text
 * @param {'error'|'warning'|'info'} [kind]
 */
export function showBanner(text, kind = 'error') {
  const b = $('banner');
  $('banner-text').textContent = text;
  b.dataset.kind = kind;
  b.hidden = false;
}

/** Hides the banner. */
export function hideBanner() {
  $('banner').hidden = true;
}

/**
 * Sets the one-line status in the top bar.
 * @param {string} text
 */
export function setStatus(text) {
  $('status').textContent = text;
}

/**
 * @typedef {object} Participant
 * @property {string} id
 * @property {string} name
 * @property {boolean} [audioMuted]
 * @property {boolean} [videoMuted]
 * @property {boolean} [speaking]
 * @property {boolean} [viewer] only watches (WHEP, /watch): listed as "watching"
 */

/**
 * The participant list: one <li class="participant" data-id=ID> per participant, ourselves first (class
 * "self"), with classes "speaking", "audio-muted" and "video-muted" that follow the server's events.
 */
export class Roster {
  /**
   * @param {HTMLUListElement} list
   * @param {HTMLElement} count
   * @param {(id: string) => void} [onPin] a participant's Pin button was clicked (pin or unpin)
   */
  constructor(list, count, onPin) {
    this.list = list;
    this.count = count;
    this.onPin = onPin;
  }

  /**
   * Replaces the whole list.
   * @param {Participant|null} self ourselves (null to show nobody)
   * @param {Participant[]} others the participants already in the room
   */
  reset(self, others) {
    this.list.replaceChildren();
    if (self) this.upsert(self, true);
    for (const p of others || []) this.upsert(p, false);
    this.updateCount();
  }

  /**
   * Adds a participant, or updates the entry with the same id.
   * @param {Participant} p
   * @param {boolean} [self]
   */
  upsert(p, self = false) {
    if (!p || typeof p.id !== 'string') return;
    let li = this.entry(p.id);
    if (!li) {
      li = document.createElement('li');
      li.className = 'participant';
      li.dataset.id = p.id;
      const name = document.createElement('span');
      name.className = 'name';
      const icons = document.createElement('span');
      icons.className = 'icons';
      icons.innerHTML =
        '<span class="badge mic-off" title="Microphone muted">muted</span>' +
        '<span class="badge cam-off" title="Camera off">no video</span>';
      li.append(name, icons);
      if (!self && this.onPin) {
        const pin = document.createElement('button');
        pin.type = 'button';
        pin.className = 'pin';
        pin.textContent = 'Pin';
        pin.title = 'Show this participant large';
        pin.addEventListener('click', () => this.onPin?.(p.id));
        li.append(pin);
      }
      this.list.append(li);
    }
    li.classList.toggle('self', self || li.classList.contains('self'));
    li.classList.toggle('viewer', !!p.viewer);
    const label = (p.name || 'Guest') + (li.classList.contains('self') ? ' (you)' : '') + (p.viewer ? ' (watching)' : '');
    /** @type {HTMLElement} */ (li.querySelector('.name')).textContent = label;
    this.setMuted(p.id, !!p.audioMuted, !!p.videoMuted);
    this.setSpeaking(p.id, !!p.speaking);
    this.updateCount();
  }

  /** @param {string} id */
  remove(id) {
    this.entry(id)?.remove();
    this.updateCount();
  }

  /** @param {string} id @param {boolean} speaking */
  setSpeaking(id, speaking) {
    this.entry(id)?.classList.toggle('speaking', !!speaking);
  }

  /** @param {string} id @param {boolean} audio muted @param {boolean} video muted */
  setMuted(id, audio, video) {
    const li = this.entry(id);
    if (!li) return;
    li.classList.toggle('audio-muted', !!audio);
    li.classList.toggle('video-muted', !!video);
  }

  /**
   * Marks the pinned participant ("" for none).
   * @param {string} id
   */
  setPinned(id) {
    for (const li of this.list.children) {
      const on = /** @type {HTMLElement} */ (li).dataset.id === id && id !== '';
      li.classList.toggle('pinned', on);
      const b = li.querySelector('button.pin');
      if (b) {
        b.textContent = on ? 'Unpin' : 'Pin';
        b.setAttribute('aria-pressed', String(on));
      }
    }
  }

  /** @param {string} id @returns {HTMLLIElement|null} */
  entry(id) {
    for (const li of this.list.children) {
      if (/** @type {HTMLElement} */ (li).dataset.id === id) return /** @type {HTMLLIElement} */ (li);
    }
    return null;
  }

  updateCount() {
    this.count.textContent = String(this.list.children.length);
  }
}

const dash = '–';
const fmt = (/** @type {number|null} */ x, /** @type {string} */ unit) => (x === null || x === undefined ? dash : `${x} ${unit}`);

/**
 * Writes the server's view of the downstream link (the "quality" message, every second) into the panel:
 * the tier received and what limits it, the bandwidth estimate, what is sent, loss, keyframe requests.
 * @param {{tier: string, limit: string, estimatedKbps: number, sentKbps: number, lossPct: number,
 *   keyframeRequests: number, keyframesForced: number}} q
 */
export function renderQuality(q) {
  const why = { caps: ' (capped)', bandwidth: ' (bandwidth)', cpu: ' (server busy)' }[q.limit] || '';
  const cells = {
    tier: `${q.tier}${why}`,
    link: `${q.sentKbps} of ${q.estimatedKbps ? `~${q.estimatedKbps}` : '?'} kbit/s, ${q.lossPct}% lost`,
    keyframes: `${q.keyframeRequests} asked, ${q.keyframesForced} forced`,
  };
  for (const [key, text] of Object.entries(cells)) {
    const dd = document.querySelector(`#stats [data-stat="${key}"]`);
    if (dd) dd.textContent = text;
  }
}

/**
 * Writes a stats summary into the panel's <dd data-stat=...> cells.
 * @param {import('./stats.js').McuStats} s
 */
export function renderStats(s) {
  const c = s.codecs;
  const cells = {
    kbpsIn: fmt(s.kbpsIn, 'kbit/s'),
    kbpsOut: fmt(s.kbpsOut, 'kbit/s'),
    video: s.videoWidth ? `${s.videoWidth}×${s.videoHeight}${s.fps !== null ? ` @ ${Math.round(s.fps)} fps` : ''}` : dash,
    lossInPct: fmt(s.lossInPct, '%'),
    lossOutPct: fmt(s.lossOutPct, '%'),
    rttMs: s.rttMs === null ? dash : `${Math.round(s.rttMs)} ms`,
    route: s.route || dash,
    codecs: `in ${c.videoIn || dash}/${c.audioIn || dash}, out ${c.videoOut || dash}/${c.audioOut || dash}`,
  };
  for (const [key, text] of Object.entries(cells)) {
    const dd = document.querySelector(`#stats [data-stat="${key}"]`);
    if (dd) dd.textContent = text;
  }
}
