package mixer

import (
	"cmp"
	"slices"
	"time"
)

// mixOnce mixes one tick: it takes a frame from every source, updates speaker detection, chooses the
// contributing sources, builds the distinct mixes and hands them, and any speaking changes, to the
// listener. It belongs to one goroutine at a time (Run's, or a test's) and does not allocate in steady
// state: only a membership change or a speaking change may grow its reused buffers.
func (m *AudioMixer) mixOnce() {
	changes := m.syncMembership(m.changes[:0])
	seq := m.seq
	now := m.clock.Now()

	// Input and speaker detection.
	for _, s := range m.srcs {
		s.read(now)
		if s.det.update(&s.frame, m.thresholdPower, m.attackFrames, m.hangoverFrames, seq) {
			changes = append(changes, SpeakingChange{ID: s.id, Speaking: s.det.speaking, LevelDBov: s.det.levelDBov})
		}
	}

	// Contributors: the active sources, capped at the loudest MaxMixedSpeakers.
	ranked := m.ranked[:0]
	for _, s := range m.srcs {
		if s.det.active {
			ranked = append(ranked, s)
		}
	}
	if len(ranked) > m.cfg.MaxMixedSpeakers {
		slices.SortFunc(ranked, compareMixPriority)
		ranked = ranked[:m.cfg.MaxMixedSpeakers]
	}
	for _, s := range ranked {
		if !s.contributing {
			// The listener moves from the shared mix to its own: keep the gain it was hearing.
			s.minusLimiter = m.allLimiter
		}
	}
	for _, s := range m.mixed {
		s.contributing = false
	}
	m.mixed = append(m.mixed[:0], ranked...)
	m.ranked = ranked
	clear(m.sum[:])
	var arrived time.Time
	for _, s := range m.mixed {
		if t := s.frameArrived; !t.IsZero() && (arrived.IsZero() || t.Before(arrived)) {
			arrived = t
		}
		s.contributing = true
		for i, v := range s.frame {
			m.sum[i] += int32(v)
		}
	}

	// Distinct mixes: the shared one for every listener who is not contributing, then one per
	// contributing listener. All Listeners slices are windows on m.ids, whose capacity covers every
	// listener, so appends never move it.
	ids := m.ids[:0]
	mixes := m.mixes[:0]
	for _, l := range m.lsn {
		if l.src == nil || !l.src.contributing {
			ids = append(ids, l.id)
		}
	}
	if len(ids) > 0 {
		m.allLimiter.process(&m.sum, nil, &m.allPCM)
		mixes = append(mixes, AudioMix{Key: AllMixKey, PCM: m.allPCM[:], Listeners: ids[:len(ids):len(ids)]})
	}
	for _, l := range m.lsn {
		if s := l.src; s != nil && s.contributing {
			ids = append(ids, l.id)
			s.minusLimiter.process(&m.sum, &s.frame, &s.minusPCM)
			mixes = append(mixes, AudioMix{Key: s.minusKey, PCM: s.minusPCM[:], Listeners: ids[len(ids)-1 : len(ids) : len(ids)]})
		}
	}
	m.ids, m.mixes, m.changes = ids, mixes, changes

	if len(changes) > 0 {
		m.publishSpeakers()
	}
	m.seq++
	m.stats.ticks.Add(1)

	// Call out with no lock held (STYLE 2.3).
	if len(changes) > 0 {
		m.listener.OnSpeakingChanged(changes)
	}
	m.listener.OnAudioTick(AudioTick{Seq: seq, Mixes: mixes, Arrived: arrived, Late: m.late})
}

// compareMixPriority orders active sources for the mix: loudest first, with a bonus for those already
// mixed; ties by ID so the choice is deterministic.
func compareMixPriority(a, b *AudioSource) int {
	sa, sb := a.det.levelDBov, b.det.levelDBov
	if a.contributing {
		sa += mixHysteresisDB
	}
	if b.contributing {
		sb += mixHysteresisDB
	}
	if c := cmp.Compare(sb, sa); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// compareSpeakers orders speakers for ActiveSpeakers: most recent start first, then loudest at the start,
// then by ID.
func compareSpeakers(a, b *AudioSource) int {
	if c := cmp.Compare(b.det.since, a.det.since); c != 0 {
		return c
	}
	if c := cmp.Compare(b.det.startLevel, a.det.startLevel); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// syncMembership brings the mixing goroutine's view of sources and listeners up to date when the
// membership changed, and appends a "stopped speaking" change for every removed source that was speaking.
func (m *AudioMixer) syncMembership(changes []SpeakingChange) []SpeakingChange {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.version == m.builtVersion {
		return changes
	}
	m.builtVersion = m.version

	for _, s := range m.srcs {
		if m.sources[s.id] == s {
			continue
		}
		if s.det.speaking {
			s.det.speaking = false
			changes = append(changes, SpeakingChange{ID: s.id, Speaking: false, LevelDBov: s.det.levelDBov})
		}
		s.contributing = false
	}
	m.mixed = slices.DeleteFunc(m.mixed, func(s *AudioSource) bool { return m.sources[s.id] != s })

	m.srcs = m.srcs[:0]
	for _, s := range m.sources {
		m.srcs = append(m.srcs, s)
	}
	slices.SortFunc(m.srcs, func(a, b *AudioSource) int { return cmp.Compare(a.id, b.id) })

	m.lsn = m.lsn[:0]
	for id := range m.listeners {
		m.lsn = append(m.lsn, listenerEntry{id: id, src: m.sources[id]})
	}
	slices.SortFunc(m.lsn, func(a, b listenerEntry) int { return cmp.Compare(a.id, b.id) })

	if cap(m.ids) < len(m.lsn) {
		m.ids = make([]ParticipantID, 0, len(m.lsn))
	}
	if n := min(len(m.lsn), m.cfg.MaxMixedSpeakers) + 1; cap(m.mixes) < n {
		m.mixes = make([]AudioMix, 0, n)
	}
	if cap(m.ranked) < len(m.srcs) {
		m.ranked = make([]*AudioSource, 0, len(m.srcs))
	}
	return changes
}

// publishSpeakers refreshes the ActiveSpeakers snapshot after a speaking change.
func (m *AudioMixer) publishSpeakers() {
	sp := m.speaking[:0]
	for _, s := range m.srcs {
		if s.det.speaking {
			sp = append(sp, s)
		}
	}
	slices.SortFunc(sp, compareSpeakers)
	m.speaking = sp
	m.mu.Lock()
	m.speakers = m.speakers[:0]
	for _, s := range sp {
		m.speakers = append(m.speakers, s.id)
	}
	m.mu.Unlock()
}
