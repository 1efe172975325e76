// Plays the one remote stream (composite video + mixed audio) in <video id="composite">, and copes with
// autoplay policies: when sound is refused without a user gesture, the video plays muted and a
// "click to start audio" button appears.

/** The remote stream's player. */
export class RemotePlayer {
  /**
   * @param {HTMLVideoElement} video
   * @param {HTMLButtonElement} startButton shown while the browser refuses to play sound
   */
  constructor(video, startButton) {
    this.video = video;
    this.button = startButton;
    /** @type {MediaStream} the stream the element plays, rebuilt when tracks come and go */
    this.stream = new MediaStream();
    this.attachQueued = false;
    this.button.addEventListener('click', () => this.unmute());
  }

  /**
   * Adds a remote track. Tracks arriving in one burst (audio and video of one answer) are attached together.
   * @param {MediaStreamTrack} track
   */
  addTrack(track) {
    for (const t of this.stream.getTracks()) {
      if (t.kind === track.kind && t !== track) this.stream.removeTrack(t);
    }
    if (!this.stream.getTracks().includes(track)) this.stream.addTrack(track);
    track.addEventListener('ended', () => {
      if (this.stream.getTracks().includes(track)) {
        this.stream.removeTrack(track);
        this.queueAttach();
      }
    });
    this.queueAttach();
  }

  queueAttach() {
    if (this.attachQueued) return;
    this.attachQueued = true;
    setTimeout(() => {
      this.attachQueued = false;
      this.attach();
    }, 0);
  }

  /** Gives the element a fresh MediaStream with the current tracks (browsers reload on srcObject change). */
  attach() {
    const tracks = this.stream.getTracks();
    this.stream = new MediaStream(tracks);
    this.video.srcObject = tracks.length ? this.stream : null;
    if (tracks.length) this.play();
  }

  async play() {
    try {
      await this.video.play();
    } catch (err) {
      const name = err && /** @type {Error} */ (err).name;
      if (name !== 'NotAllowedError') return; // AbortError: a newer srcObject replaced this one
      this.video.muted = true; // muted autoplay is allowed: show the picture at least
      this.button.hidden = false;
      document.body.dataset.audioBlocked = 'true';
      try {
        await this.video.play();
      } catch { /* even muted playback refused: the button starts both */ }
    }
  }

  /** The user clicked: play with sound. */
  async unmute() {
    this.video.muted = false;
    try {
      await this.video.play();
      this.button.hidden = true;
      delete document.body.dataset.audioBlocked;
    } catch {
      // Still refused (no real user gesture): unmuting paused the picture, so go back to muted playback.
      this.video.muted = true;
      this.video.play().catch(() => {});
    }
  }

  /** Stops showing the remote stream (the tracks belong to the peer connection). */
  reset() {
    this.stream = new MediaStream();
    this.video.srcObject = null;
    this.video.muted = false;
    this.button.hidden = true;
    delete document.body.dataset.audioBlocked;
  }
}
