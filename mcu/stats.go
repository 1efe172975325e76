package mcu

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/openmcu/mcu/mcu/internal/latency"
)

// Histogram is a snapshot of a latency distribution (Stats.AudioLatency, VideoLatency): Counts[i]
// observations up to Bounds[i], the last count above them all. Plain data.
type Histogram = latency.Histogram

// Stats are counters since the MCU started, plus current sizes. A plain value: a snapshot.
type Stats struct {
	Rooms        int // rooms open now
	Participants int // local participants in all rooms now (outputs and remotes not counted)
	Outputs      int // recordings and live streams running now
	// Remotes counts the remote participants (MCU.JoinRemote) in all rooms now.
	Remotes int
	// RemotePacketsDropped counts the RTP packets pushed into remote participants that their queue had
	// no room for (the oldest is dropped: the pushing link never waits).
	RemotePacketsDropped uint64
	// OutputFramesDropped counts the frames an output's writer did not take in time (a slow disk or
	// network): dropped, never waited for.
	OutputFramesDropped uint64
	// Data channel messages (data.go): received from clients, sent to them, and dropped (too large, or
	// towards a client that does not read).
	DataIn, DataOut, DataDropped uint64

	VideoFramesIn      uint64 // decoded incoming pictures handed to a compositor
	VideoFramesDropped uint64 // composed pictures an output encoder did not take in time
	VideoFramesOut     uint64 // encoded composed pictures
	// VideoFramesComposed counts the pictures the open rooms' compositors drew (a room's count goes with it).
	VideoFramesComposed uint64
	// VideoFramesShed counts the pictures the open rooms' compositors did not draw to leave CPU time
	// to audio (Config.NoVideoShedding), and VideoShedLevel is the server's shed level now (0: none).
	VideoFramesShed uint64
	VideoShedLevel  int
	// The rooms' audio mixer inputs (a closing room's counts go with it): frames a source did not have
	// in time (it plays silence and buffers again), frames dropped whole and samples (48 kHz) cross-faded
	// away to shed delay a source did not need (mixer.AudioStats).
	AudioInputUnderruns, AudioFramesTrimmed, AudioSamplesAccelerated uint64
	// VideoEncodeWait is how long video encoders have waited, together, for the CPU: at most as many
	// encodes run at once as Go has cores (VideoEncodesPeak is the most that ever did), so that audio and
	// network goroutines do not queue behind encoder threads. It grows when video work exceeds the CPU.
	VideoEncodeWait  time.Duration
	VideoEncodesPeak int
	// AudioTickLate is how long after its due time each of the rooms' audio mixer ticks sent its last
	// packet (CPU pressure shows here first).
	AudioTickLate    Histogram
	AudioPacketsLost uint64 // incoming audio packets missing in sequence (concealed)
	DecodeErrors     uint64 // incoming frames that failed to decode
	PLIsSent         uint64 // keyframe requests sent to publishers
	KeyframesForced  uint64 // IDRs forced on output encoders (keyframe requests and new receivers)
	WriteErrors      uint64 // samples that failed to go out (closed or unbound tracks)

	AudioEncoders int // audio encoders running now (one per distinct mix and audio class), all rooms
	VideoEncoders int // video encoders running now (one per compositor output and codec), all rooms
	// VideoEncodersByTier counts the running video encoders per tier name, all rooms.
	VideoEncodersByTier map[string]int
	AudioDecoders       int // incoming audio tracks being decoded now
	VideoDecoders       int // incoming video tracks being decoded now

	// Large rooms: the video of a participant visible to nobody is read but not decoded (ingest.go).
	VideoFramesDecoded    uint64 // incoming video frames given to a decoder
	VideoFramesNotDecoded uint64 // incoming video frames skipped: their sender was visible to nobody or had its camera off
	VideoDecodersActive   int    // incoming video tracks whose sender is visible now, with a decoder open (VideoDecoders minus the idle, whose decoders are closed)

	// AudioLatency is the latency the mixer adds: from the arrival of an audio packet to the sending of the
	// first mix that contains it (for the longest-waiting voice of each tick).
	AudioLatency Histogram
	// ReceiversByTier counts the participants receiving each tier now, by tier name ("audio-only" for
	// those below the lowest tier).
	ReceiversByTier map[string]int
	// ParticipantsByRoute counts the connected WebRTC participants by how their media reaches the server:
	// "udp" and "tcp" (directly, over UDP or ICE-TCP) and "relay" (through a TURN server).
	ParticipantsByRoute map[string]int
	// TierChanges counts the tier changes made by bandwidth estimation (automatic, not caps).
	TierChanges uint64
	// NACKsFiltered counts the packets receivers asked to be resent that were not: sent too long ago,
	// already resent twice, or unknown (nackfilter.go).
	NACKsFiltered uint64
	// Plain-RTP participants (SIP calls): RTP packets accepted, dropped (from a wrong address, malformed,
	// of a payload type not negotiated, or too large) and sent, over all their streams.
	RTPPacketsReceived, RTPPacketsDropped, RTPPacketsSent uint64
	// RTPPacketsUnsent counts the plain-RTP packets not sent: nothing had yet come from the peer (strict
	// RTP never sends to an address before it has heard from it).
	RTPPacketsUnsent uint64

	// RoomDetails has one entry per open room, ParticipantDetails one per participant (viewers included),
	// both sorted by room name and then join order.
	RoomDetails        []RoomStats
	ParticipantDetails []ParticipantStats

	// VideoLatency is the latency the compositor and encoder add: from the arrival of the last packet of a
	// picture to the sending of the first composed frame that shows it (for the longest-waiting new
	// picture of each frame).
	VideoLatency Histogram
	// VideoPSNR is the luma PSNR of each picture the H.264 output encoders encoded against the composed
	// picture they were given (what a receiver decodes when nothing is lost), with Config.MeasurePSNR;
	// empty without it.
	VideoPSNR PSNRHistogram

	// Panics counts the panics recovered, by where: "room" (a room's mixer, compositor or encoder:
	// the room's participants were removed), "ingest", "rtcp", "bwe", "callback" (the participant was
	// removed). Every other room and participant went on.
	Panics map[string]uint64
	// Refusals counts what the admission limits refused, by limit: "rooms" (Config.MaxRooms),
	// "server" (MaxTotalParticipants), "room" (MaxParticipants), "tracks" (MaxMediaSections),
	// "negotiation" (NegotiationTimeout), "input_bitrate" (packets over MaxInputBitrate), "outputs"
	// (recordings and streams over MaxOutputs), "remotes" (remote participants over MaxRemotes).
	Refusals map[string]uint64
}

// PSNRHistogram is a snapshot of the PSNR of encoded pictures (Stats.VideoPSNR), in dB: Counts[i]
// pictures up to Bounds[i], the last count above them all (x264 reports a picture coded without any
// error as 100 dB); Sum is the sum of their PSNRs. Plain data.
type PSNRHistogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// The PSNR histogram's buckets: upper bounds from psnrLow to psnrLow+(psnrBuckets-1)*psnrStep dB (20 to
// 50), then the rest.
const psnrLow, psnrStep, psnrBuckets = 20, 2, 16

// psnrRecorder counts PSNRs into the buckets without locks. Its zero value is ready. Safe for concurrent
// use.
type psnrRecorder struct {
	counts [psnrBuckets + 1]atomic.Uint64
	sum    atomic.Int64 // in thousandths of a dB
}

// observe counts one picture's PSNR in dB.
func (r *psnrRecorder) observe(db float64) {
	i := 0
	for i < psnrBuckets && db > psnrLow+float64(i*psnrStep) {
		i++
	}
	r.counts[i].Add(1)
	r.sum.Add(int64(math.Round(db * 1000)))
}

// snapshot returns the counts so far.
func (r *psnrRecorder) snapshot() PSNRHistogram {
	h := PSNRHistogram{Bounds: make([]float64, psnrBuckets), Counts: make([]uint64, psnrBuckets+1),
		Sum: float64(r.sum.Load()) / 1000}
	for i := range h.Bounds {
		h.Bounds[i] = psnrLow + float64(i*psnrStep)
	}
	for i := range h.Counts {
		h.Counts[i] = r.counts[i].Load()
		h.Count += h.Counts[i]
	}
	return h
}

// RoomStats are one room's numbers now. Plain data.
type RoomStats struct {
	Name          string
	Participants  int // local participants (viewers included)
	Remotes       int // remote participants (MCU.JoinRemote)
	AudioEncoders int // encodes per 20 ms tick: one per distinct (mix, audio class)
	VideoEncoders int
	// VideoEncodersByTier counts the room's video encoders per tier name: one per (view, tier, codec) in use.
	VideoEncodersByTier map[string]int
}

// ParticipantStats are one local participant's numbers now (remotes receive nothing here). Plain data.
type ParticipantStats struct {
	Room, Name string
	ID         ParticipantID
	Viewer     bool
	// Quality is its downstream link: tier, estimated and sent bitrate, loss, keyframes.
	Quality Quality
}

type counters struct {
	VideoFramesIn, VideoFramesOut, AudioPacketsLost, DecodeErrors atomic.Uint64
	PLIsSent, KeyframesForced, WriteErrors, VideoFramesDropped    atomic.Uint64
	AudioDecoders, VideoDecoders                                  atomic.Int64

	// Large rooms (ingest.go): decoded and skipped video frames, decoders not idle.
	VideoFramesDecoded, VideoFramesNotDecoded atomic.Uint64
	VideoDecodersActive                       atomic.Int64

	// Video encodes (egress.go): the time encoders waited for one of the MCU's encode slots (the CPU
	// was busy with as many encodes as Go has cores), and the most encodes that ever ran at once.
	videoEncodeWait  atomic.Int64 // nanoseconds, Stats.VideoEncodeWait
	VideoEncodesPeak atomic.Int64

	TierChanges          atomic.Uint64 // bwe.go
	OutputFramesDropped  atomic.Uint64 // output.go
	RemotePacketsDropped atomic.Uint64 // remote.go

	DataIn, DataOut, DataDropped atomic.Uint64 // data.go
	NACKsFiltered                atomic.Uint64 // internal/nackfilter

	// Plain RTP: what the streams of participants who left received, dropped, sent and did not send
	// (plainrtp.go); the live ones' are added by their transports.
	RTPPacketsReceived, RTPPacketsDropped, RTPPacketsSent, RTPPacketsUnsent atomic.Uint64

	refusals                   refusalCounters
	audioLatency, videoLatency latency.Recorder
	audioTickLate              latency.Recorder // mixer.AudioTick.Late of every room's ticks
	videoPSNR                  psnrRecorder
}

// refusalCounters count what the admission limits refused; each field's tag is its key in
// Stats.Refusals.
type refusalCounters struct {
	Rooms        atomic.Uint64 `limit:"rooms"`
	Server       atomic.Uint64 `limit:"server"`
	Room         atomic.Uint64 `limit:"room"`
	Tracks       atomic.Uint64 `limit:"tracks"`
	Negotiation  atomic.Uint64 `limit:"negotiation"`
	InputBitrate atomic.Uint64 `limit:"input_bitrate"`
	Outputs      atomic.Uint64 `limit:"outputs"`
	Remotes      atomic.Uint64 `limit:"remotes"`
}

// addTo adds every atomic field of c (exported name, atomic.Uint64 or atomic.Int64) to the Stats field of
// the same name: a new counter is one field here and one in Stats, and nothing to copy by hand. A field
// without its Stats twin panics, at the first snapshot of any test (TestStatsCounters).
func (c *counters) addTo(s *Stats) {
	cv, sv := reflect.ValueOf(c).Elem(), reflect.ValueOf(s).Elem()
	for i := range cv.NumField() {
		f := cv.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		dst := sv.FieldByName(f.Name)
		switch a := cv.Field(i).Addr().Interface().(type) {
		case *atomic.Uint64:
			dst.SetUint(dst.Uint() + a.Load())
		case *atomic.Int64:
			dst.SetInt(dst.Int() + a.Load())
		}
	}
	s.Refusals = make(map[string]uint64)
	rv := reflect.ValueOf(&c.refusals).Elem()
	for i := range rv.NumField() {
		s.Refusals[rv.Type().Field(i).Tag.Get("limit")] = rv.Field(i).Addr().Interface().(*atomic.Uint64).Load()
	}
	s.AudioLatency = c.audioLatency.Snapshot()
	s.AudioTickLate = c.audioTickLate.Snapshot()
	s.VideoEncodeWait = time.Duration(c.videoEncodeWait.Load())
	s.VideoLatency = c.videoLatency.Snapshot()
	s.VideoPSNR = c.videoPSNR.snapshot()
}

// Stats returns a snapshot of the counters. Safe for concurrent use.
func (m *MCU) Stats() Stats {
	rooms := m.openRooms()
	tiers := m.tiers.tiers
	s := Stats{Rooms: len(rooms), ReceiversByTier: make(map[string]int), ParticipantsByRoute: make(map[string]int),
		VideoEncodersByTier: make(map[string]int, len(tiers))}
	for _, t := range tiers {
		s.VideoEncodersByTier[t.Name] = 0 // every tier, even with no room
	}
	slices.SortFunc(rooms, func(a, b *room) int { return strings.Compare(a.name, b.name) })
	// Encoder counts are the rooms' sums (a closing room, already forgotten, no longer counts).
	for _, r := range rooms {
		ps := r.members()
		people := r.size()
		s.Participants += people
		rs := RoomStats{Name: r.name, Participants: people, AudioEncoders: int(r.audioEncoders.Load()),
			VideoEncodersByTier: make(map[string]int, len(tiers))}
		for i, t := range tiers {
			n := int(r.tierEncoders[i].Load())
			rs.VideoEncoders += n
			rs.VideoEncodersByTier[t.Name] = n
			s.VideoEncodersByTier[t.Name] += n
		}
		s.AudioEncoders += rs.AudioEncoders
		s.VideoEncoders += rs.VideoEncoders
		vs := r.video.Stats()
		s.VideoFramesComposed += vs.Composed
		s.VideoFramesShed += vs.FramesShed
		as := r.audio.Stats()
		s.AudioInputUnderruns += as.Underruns
		s.AudioFramesTrimmed += as.InputFramesTrimmed
		s.AudioSamplesAccelerated += as.InputSamplesAccelerated
		for _, p := range ps {
			p.t.addStats(&s)
			if p.remote {
				rs.Remotes++
				continue // it receives nothing here: no tier, no downstream quality
			}
			q := p.Quality()
			s.ReceiversByTier[q.Tier]++
			s.ParticipantDetails = append(s.ParticipantDetails, ParticipantStats{Room: r.name, Name: p.name, ID: p.id,
				Viewer: p.viewer, Quality: q})
		}
		s.RoomDetails = append(s.RoomDetails, rs)
	}
	m.stats.addTo(&s)
	s.VideoShedLevel = m.gov.level()
	s.Panics = m.panics.snapshot()
	return s
}
