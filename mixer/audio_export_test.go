package mixer

// Test seams for the external audio tests (package mixer_test, which can import mixertest).

// InputBufferFrames is the depth of a source's ring and of Run's catch-up.
const InputBufferFrames = inputBufferFrames

// IsRunning reports whether a Run call has taken the mixer.
func (m *AudioMixer) IsRunning() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running
}
