// The room chat: text messages and shared files over the "chat" data channel (protocol: signaling/chat).
// Everything a participant wrote is shown as text (textContent), never as HTML.

/** Bytes of a file sent per data channel message (the server takes up to 64 KiB). */
const CHUNK = 16 * 1024;
/** How much may wait in the channel before the upload pauses. */
const HIGH_WATER = 1 << 20;

/**
 * @typedef {object} ChatElements
 * @property {HTMLOListElement} list the messages
 * @property {HTMLFormElement} [form] the input form (absent on a read-only page: /watch)
 * @property {HTMLInputElement} [input] the text input
 * @property {HTMLInputElement} [file] a file input for sharing files (absent where the page cannot send)
 */

export class Chat {
  /**
   * @param {ChatElements} els
   * @param {(text: string) => void} onError shows a refusal (too long, rate-limited, forbidden...)
   */
  constructor(els, onError) {
    this.els = els;
    this.onError = onError;
    /** @type {RTCDataChannel|null} */
    this.channel = null;
    /** message ids already shown (a reconnection delivers the history again) */
    this.seen = new Set();
    els.form?.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const input = els.input;
      const text = input?.value.trim();
      if (!input || !text) return;
      if (this.send({ type: 'chat', text })) input.value = '';
    });
    els.file?.addEventListener('change', () => {
      const f = els.file?.files?.[0];
      if (f) this.sendFile(f).catch((err) => this.onError(`The file was not sent: ${err.message || err}`));
      if (els.file) els.file.value = '';
    });
  }

  /**
   * Uses a new data channel (after every (re)join).
   * @param {RTCDataChannel} channel
   */
  attach(channel) {
    this.channel = channel;
    channel.binaryType = 'arraybuffer';
    channel.addEventListener('message', (ev) => {
      if (typeof ev.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.receive(msg);
    });
  }

  /** @param {object} msg @returns {boolean} whether it went out */
  send(msg) {
    const ch = this.channel;
    if (!ch || ch.readyState !== 'open') {
      this.onError('The chat is not connected yet.');
      return false;
    }
    ch.send(JSON.stringify(msg));
    return true;
  }

  /**
   * Shares a file: file-begin, its bytes in chunks (pausing while the channel is full), file-end.
   * @param {File} file
   */
  async sendFile(file) {
    const ch = this.channel;
    if (!ch || ch.readyState !== 'open') throw new Error('the chat is not connected');
    ch.bufferedAmountLowThreshold = HIGH_WATER / 2;
    this.send({ type: 'file-begin', name: file.name, size: file.size, mime: file.type || 'application/octet-stream' });
    for (let off = 0; off < file.size; off += CHUNK) {
      while (ch.bufferedAmount > HIGH_WATER) {
        await new Promise((r) => ch.addEventListener('bufferedamountlow', r, { once: true }));
      }
      if (ch.readyState !== 'open') throw new Error('the chat disconnected');
      ch.send(await file.slice(off, off + CHUNK).arrayBuffer());
    }
    this.send({ type: 'file-end' });
  }

  /** @param {any} msg a server message */
  receive(msg) {
    if (msg.type === 'chat-error') {
      this.onError(String(msg.message || msg.code || 'The chat refused that.'));
      return;
    }
    if (msg.type !== 'chat' && msg.type !== 'file') return;
    const key = `${msg.id}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const li = document.createElement('li');
    li.className = `chat-${msg.type}`;
    li.dataset.id = key;
    const who = document.createElement('span');
    who.className = 'from';
    who.textContent = String(msg.from?.name || '?');
    const when = document.createElement('time');
    const t = new Date(Number(msg.time) || Date.now());
    when.dateTime = t.toISOString();
    when.textContent = t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    li.append(who, when, document.createElement('br'));
    if (msg.type === 'chat') {
      const text = document.createElement('span');
      text.className = 'text';
      text.textContent = String(msg.text ?? '');
      li.append(text);
    } else {
      const a = document.createElement('a');
      const url = String(msg.url || '');
      if (url.startsWith('/files/')) a.href = url; // only the server's own download links
      a.download = String(msg.name || 'file');
      a.textContent = String(msg.name || 'file');
      a.className = 'file';
      const size = document.createElement('span');
      size.className = 'size';
      size.textContent = ` (${formatSize(Number(msg.size) || 0)})`;
      li.append(a, size);
    }
    this.els.list.append(li);
    li.scrollIntoView({ block: 'nearest' });
  }

  /** Forgets the shown messages (a new room, or leaving). */
  clear() {
    this.els.list.replaceChildren();
    this.seen.clear();
  }
}

/** @param {number} n bytes */
export function formatSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
