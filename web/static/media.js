// Local camera and microphone, with graceful fallbacks when one or both are missing.

/**
 * @typedef {object} LocalMedia
 * @property {MediaStream} stream holds whichever tracks were obtained (possibly none)
 * @property {MediaStreamTrack|null} audio
 * @property {MediaStreamTrack|null} video
 * @property {string} notice empty when both were obtained, else a sentence for the user
 */

/**
 * The getUserMedia constraints: 640x360 ideal at 30 fps; rawAudio turns off echo cancellation, noise
 * suppression and automatic gain (they distort test tones).
 * @param {{rawAudio?: boolean}} opts
 * @returns {{audio: MediaTrackConstraints, video: MediaTrackConstraints}}
 */
export function mediaConstraints({ rawAudio = false } = {}) {
  const audio = rawAudio
    ? { echoCancellation: false, noiseSuppression: false, autoGainControl: false }
    : { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
  return {
    audio,
    video: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 30 } },
  };
}

/**
 * Asks for the camera and the microphone together, then for each alone, and settles for what it gets:
 * never rejects. A refused permission is not asked again for the other device.
 * @param {{rawAudio?: boolean}} opts
 * @returns {Promise<LocalMedia>}
 */
export async function getLocalMedia(opts = {}) {
  const c = mediaConstraints(opts);
  const md = navigator.mediaDevices;
  if (!md || typeof md.getUserMedia !== 'function') {
    return result(null, 'Camera and microphone need a secure page (https or localhost): you can watch and listen only.');
  }
  let stream = null;
  let refused = false;
  const attempts = [{ audio: c.audio, video: c.video }, { audio: c.audio }, { video: c.video }];
  for (const constraints of attempts) {
    try {
      stream = await md.getUserMedia(constraints);
      break;
    } catch (err) {
      const name = err && /** @type {Error} */ (err).name;
      if (name === 'NotAllowedError' || name === 'SecurityError') {
        refused = true;
        break;
      }
    }
  }
  if (refused) return result(null, 'Camera and microphone are blocked: you can watch and listen only.');
  return result(stream, '');
}

/**
 * @param {MediaStream|null} stream
 * @param {string} notice
 * @returns {LocalMedia}
 */
function result(stream, notice) {
  const s = stream || new MediaStream();
  const audio = s.getAudioTracks()[0] || null;
  const video = s.getVideoTracks()[0] || null;
  if (!notice) {
    if (!audio && !video) notice = 'No camera or microphone found: you can watch and listen only.';
    else if (!video) notice = 'No camera found: you joined with audio only.';
    else if (!audio) notice = 'No microphone found: others see you but cannot hear you.';
  }
  return { stream: s, audio, video, notice };
}

/**
 * Whether the local media can be reused for another join (every obtained track still live).
 * @param {LocalMedia|null} media
 * @returns {boolean}
 */
export function isLive(media) {
  if (!media) return false;
  return media.stream.getTracks().every((t) => t.readyState === 'live');
}

/**
 * Stops every track (the camera light goes off).
 * @param {LocalMedia|null} media
 */
export function stopLocalMedia(media) {
  media?.stream.getTracks().forEach((t) => t.stop());
}
