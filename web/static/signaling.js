// The signalling channel: JSON text frames over one WebSocket, handled strictly in order.

/**
 * The WebSocket URL of the signalling endpoint on the page's own host: ws://HOST/ws, or wss:// under https.
 * @param {Location|URL} [loc] the page location (defaults to window.location)
 * @returns {string}
 */
export function signalingURL(loc = window.location) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/ws`;
}

/**
 * @typedef {object} SignalingHandlers
 * @property {() => void} [onOpen] the socket is open; send "join" here
 * @property {(msg: any) => (void|Promise<void>)} onMessage one parsed message; the next one waits until the
 *   returned promise settles, so an answer is applied before the candidates that follow it
 * @property {(ev: CloseEvent) => void} [onClose] the socket closed or could not open (not called after close())
 * @property {(err: unknown, msg: any) => void} [onError] a frame was not JSON, or onMessage threw
 */

/** One WebSocket carrying the JSON signalling protocol. */
export class Signaling {
  /**
   * Opens the socket at once.
   * @param {string} url ws:// or wss:// URL
   * @param {SignalingHandlers} handlers
   */
  constructor(url, handlers) {
    this.handlers = handlers;
    /** @type {Promise<void>} the tail of the in-order handling chain */
    this.queue = Promise.resolve();
    this.closed = false;
    this.ws = new WebSocket(url);
    this.ws.addEventListener('open', () => {
      if (!this.closed) this.handlers.onOpen?.();
    });
    this.ws.addEventListener('message', (ev) => this.receive(ev));
    this.ws.addEventListener('close', (ev) => {
      if (this.closed) return;
      this.closed = true;
      this.handlers.onClose?.(ev);
    });
    // A socket the browser refuses to open (a Content Security Policy, a blocked port) fires only
    // "error", never "close": it is closed all the same, and the caller must hear of it to retry.
    this.ws.addEventListener('error', () => {
      if (this.closed || this.ws.readyState !== WebSocket.CLOSED) return;
      this.closed = true;
      this.handlers.onClose?.(new CloseEvent('close', { code: 1006, reason: 'the socket could not open' }));
    });
  }

  /** @param {MessageEvent} ev */
  receive(ev) {
    if (this.closed || typeof ev.data !== 'string') return;
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch (err) {
      this.handlers.onError?.(err, ev.data);
      return;
    }
    if (!msg || typeof msg.type !== 'string') {
      this.handlers.onError?.(new Error('message without a type'), msg);
      return;
    }
    this.queue = this.queue
      .then(() => (this.closed ? undefined : this.handlers.onMessage(msg)))
      .catch((err) => this.handlers.onError?.(err, msg));
  }

  /** @returns {boolean} whether the socket is open */
  get open() {
    return !this.closed && this.ws.readyState === WebSocket.OPEN;
  }

  /**
   * Sends one message if the socket is open.
   * @param {{type: string}} msg
   * @returns {boolean} false when the socket is not open (the message is dropped)
   */
  send(msg) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /**
   * Closes the socket on purpose: no onClose, and messages still queued are dropped. Frames already passed
   * to send() go out before the close frame.
   */
  close() {
    if (this.closed) return;
    this.closed = true;
    try {
      this.ws.close(1000, 'bye');
    } catch { /* already closing */ }
  }
}
