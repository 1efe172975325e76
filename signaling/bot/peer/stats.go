package peer

import (
	"encoding/binary"
	"sync/atomic"
	"time"
)

// audioUnderrunGap is the arrival gap between two audio packets that counts as an underrun: three packets'
// worth, more than a receiver's jitter buffer usually holds.
const audioUnderrunGap = 60 * time.Millisecond

// ReceiveStats counts what a Client has received since it started. Counters only grow (except the loss
// counts, which a late packet lowers), so a benchmark takes deltas over a window with Sub. It is plain data.
//
// A video frame is a distinct, newer RTP timestamp (found without decoding); its arrival is that of its
// first packet. A freeze is an arrival gap between two frames of more than three frame intervals at
// Config.ExpectedFrameRate (100 ms at 30 fps); an audio underrun a gap of more than 60 ms between two
// audio packets. Losses are RTP sequence numbers expected but not received (RFC 3550 "cumulative number
// of packets lost"), with no NACK retransmission asked for.
type ReceiveStats struct {
	// VideoPackets and VideoBytes count received video RTP packets and their payload bytes (without RTP
	// header and padding).
	VideoPackets, VideoBytes uint64
	// VideoPacketsLost is the number of video packets missing from the sequence.
	VideoPacketsLost int64
	// VideoFrames counts received frames (distinct RTP timestamps).
	VideoFrames uint64
	// VideoFreezes counts frame gaps longer than three frame intervals; VideoFreezeDuration sums those
	// gaps minus one frame interval each.
	VideoFreezes        uint64
	VideoFreezeDuration time.Duration
	// MaxFrameGap is the longest arrival gap between two frames since the first.
	MaxFrameGap time.Duration
	// FirstVideo and LastVideo are the arrivals of the first and the latest frame (zero before one).
	FirstVideo, LastVideo time.Time
	// PicturesDecoded counts decoded pictures (0 with Config.NoDecode).
	PicturesDecoded uint64
	// PLIsSent counts the keyframe requests the client sent: when its decoder needed a keyframe or, with
	// NoDecode, when a video packet went missing (at most one per 500 ms).
	PLIsSent uint64

	// AudioPackets and AudioBytes count received audio RTP packets and their payload bytes.
	AudioPackets, AudioBytes uint64
	// AudioPacketsLost is the number of audio packets missing from the sequence.
	AudioPacketsLost int64
	// AudioUnderruns counts arrival gaps of more than 60 ms between two audio packets.
	AudioUnderruns uint64
	// MaxAudioGap is the longest arrival gap between two audio packets since the first.
	MaxAudioGap time.Duration
	// FirstAudio and LastAudio are the arrivals of the first and the latest audio packet.
	FirstAudio, LastAudio time.Time
}

// Sub returns s minus an earlier snapshot prev: the counters over the window between them. Maxima and
// times are s's own (since the start), not the window's.
func (s ReceiveStats) Sub(prev ReceiveStats) ReceiveStats {
	d := s
	d.VideoPackets -= prev.VideoPackets
	d.VideoBytes -= prev.VideoBytes
	d.VideoPacketsLost -= prev.VideoPacketsLost
	d.VideoFrames -= prev.VideoFrames
	d.VideoFreezes -= prev.VideoFreezes
	d.VideoFreezeDuration -= prev.VideoFreezeDuration
	d.PicturesDecoded -= prev.PicturesDecoded
	d.PLIsSent -= prev.PLIsSent
	d.AudioPackets -= prev.AudioPackets
	d.AudioBytes -= prev.AudioBytes
	d.AudioPacketsLost -= prev.AudioPacketsLost
	d.AudioUnderruns -= prev.AudioUnderruns
	return d
}

// recvCounters are a Client's receive statistics. Each stream's counters are written by its reader
// goroutine alone and read by anyone: atomics, no lock.
type recvCounters struct {
	epoch time.Time // times are stored as nanoseconds since epoch; 0 means none yet

	video, audio                       seqCounter
	videoFrames, videoFreezes          atomic.Uint64
	videoFreezeNS, maxFrameGap         atomic.Int64
	firstVideo, lastVideo              atomic.Int64
	pictures, plis                     atomic.Uint64
	audioUnderruns                     atomic.Uint64
	maxAudioGap, firstAudio, lastAudio atomic.Int64
}

func (r *recvCounters) snapshot() ReceiveStats {
	at := func(v *atomic.Int64) time.Time {
		if ns := v.Load(); ns != 0 {
			return r.epoch.Add(time.Duration(ns))
		}
		return time.Time{}
	}
	return ReceiveStats{
		VideoPackets:        r.video.packets.Load(),
		VideoBytes:          r.video.bytes.Load(),
		VideoPacketsLost:    r.video.lost.Load(),
		VideoFrames:         r.videoFrames.Load(),
		VideoFreezes:        r.videoFreezes.Load(),
		VideoFreezeDuration: time.Duration(r.videoFreezeNS.Load()),
		MaxFrameGap:         time.Duration(r.maxFrameGap.Load()),
		FirstVideo:          at(&r.firstVideo),
		LastVideo:           at(&r.lastVideo),
		PicturesDecoded:     r.pictures.Load(),
		PLIsSent:            r.plis.Load(),
		AudioPackets:        r.audio.packets.Load(),
		AudioBytes:          r.audio.bytes.Load(),
		AudioPacketsLost:    r.audio.lost.Load(),
		AudioUnderruns:      r.audioUnderruns.Load(),
		MaxAudioGap:         time.Duration(r.maxAudioGap.Load()),
		FirstAudio:          at(&r.firstAudio),
		LastAudio:           at(&r.lastAudio),
	}
}

// now returns the time since epoch, never 0.
func (r *recvCounters) now() int64 { return max(int64(time.Since(r.epoch)), 1) }

// seqCounter counts one RTP stream's packets and losses. Its unexported state belongs to the stream's
// reader.
type seqCounter struct {
	packets, bytes atomic.Uint64
	lost           atomic.Int64

	started           bool
	high, base, count int64 // extended sequence numbers; packets counted
}

// packet counts one packet and returns how far its sequence number is ahead of the highest before it
// (1 in order, more after a loss, 0 or less for a duplicate or a late packet; 1 for the first).
func (s *seqCounter) packet(seq uint16, payload int) int {
	s.packets.Add(1)
	s.bytes.Add(uint64(payload))
	s.count++
	if !s.started {
		s.started = true
		s.high, s.base = int64(seq), int64(seq)
		return 1
	}
	d := int(int16(seq - uint16(s.high)))
	ext := s.high + int64(d)
	s.high = max(s.high, ext)
	s.base = min(s.base, ext)
	s.lost.Store(max(s.high-s.base+1-s.count, 0))
	return d
}

// video counts one video packet that arrived at now (see recvCounters.now): its sequence number, RTP
// timestamp and payload size. It returns whether a packet is missing before it.
func (r *recvCounters) videoPacket(st *frameState, seq uint16, ts uint32, payload int, now int64) (lost bool) {
	d := r.video.packet(seq, payload)
	if payload == 0 { // padding: no frame
		return d > 1
	}
	if !st.started || int32(ts-st.ts) > 0 {
		if st.started {
			gap := now - st.arrival
			if gap > r.maxFrameGap.Load() {
				r.maxFrameGap.Store(gap)
			}
			if gap > 3*st.interval {
				r.videoFreezes.Add(1)
				r.videoFreezeNS.Add(gap - st.interval)
			}
		} else {
			r.firstVideo.Store(now)
		}
		st.started, st.ts, st.arrival = true, ts, now
		r.videoFrames.Add(1)
		r.lastVideo.Store(now)
	}
	return d > 1
}

// frameState is the video reader's own frame-boundary state.
type frameState struct {
	interval int64 // expected frame interval, ns
	started  bool
	ts       uint32
	arrival  int64
}

// audioPacket counts one audio packet that arrived at now.
func (r *recvCounters) audioPacket(seq uint16, payload int, now int64) {
	r.audio.packet(seq, payload)
	if last := r.lastAudio.Load(); last != 0 {
		gap := now - last
		if gap > r.maxAudioGap.Load() {
			r.maxAudioGap.Store(gap)
		}
		if gap > int64(audioUnderrunGap) {
			r.audioUnderruns.Add(1)
		}
	} else {
		r.firstAudio.Store(now)
	}
	r.lastAudio.Store(now)
}

// rtpFields returns what the counters need of a raw RTP packet without unmarshalling (and allocating) it:
// sequence number, timestamp and payload size without header, extensions and padding.
func rtpFields(b []byte) (seq uint16, ts uint32, payload int, ok bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return 0, 0, 0, false
	}
	n := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < n+4 {
			return 0, 0, 0, false
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(b[n+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > 0 {
		end -= int(b[end-1])
	}
	if n > end {
		return 0, 0, 0, false
	}
	return binary.BigEndian.Uint16(b[2:]), binary.BigEndian.Uint32(b[4:]), end - n, true
}
