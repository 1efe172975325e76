// Package nackfilter is a pion interceptor that strikes from receivers' NACKs what is not worth resending.
package nackfilter

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// Retransmission limits. pion's NACK responder resends a packet each time it is asked (once per RTT,
// which is about nothing on a LAN) for as long as the packet is in its buffer (HistoryFor), and a receiver
// keeps asking for a packet the bottleneck dropped until it arrives. On a congested link that is a loop:
// after a step down to audio only, the video sent before the step was still being resent at more than
// the link's rate, and the loss it caused kept the bandwidth estimate down. The filter below sits inside
// the responder and strikes from each NACK what is too old to be useful or already resent enough.
const (
	// nackMaxAge: a packet sent longer ago than this is not resent (a browser's jitter buffer has given
	// up on it, and the server's own frame assembler waits 300 ms).
	nackMaxAge = time.Second
	// nackMaxResends: how often one packet is resent at most.
	nackMaxResends = 2
)

// History limits, in packets per outgoing video stream; see HistoryFor.
const (
	MinHistory = 64
	MaxHistory = 1024 // pion's default
)

// HistoryFor returns how many recent packets of an outgoing video stream of at most bitrate bit/s and
// frameRate pictures a second are worth keeping to resend: those of the last nackMaxAge (older ones are
// struck from NACKs anyway), counting 1000 bytes a packet and one part-filled packet more per picture
// (the packetizer's are at most 1200), rounded up to a power of two in MinHistory..MaxHistory. The
// caller gives the same number to the NACK responder (nack.ResponderSize) and to Factory.History, so
// that both know the same packets. 1.5 Mbit/s at 30 fps: 256 (about 2 s of its real packets); 500
// kbit/s: 128. Every packet kept is a copy of about 1.8 KB per receiver.
func HistoryFor(bitrate, frameRate int) int {
	perSecond := float64(bitrate)/8/1000 + float64(frameRate)
	need := int(math.Ceil(perSecond * nackMaxAge.Seconds()))
	h := MinHistory
	for h < need && h < MaxHistory {
		h *= 2
	}
	return h
}

// Factory makes one filter per PeerConnection. Register it before pion's default interceptors so that
// it runs inside the NACK responder: the responder then sees the filtered NACKs. Safe for concurrent use.
type Factory struct {
	Filtered *atomic.Uint64 // sequence numbers struck from NACKs, for all connections
	// History is how many recent packets per stream the filter remembers: the NACK responder's size, a
	// power of two (HistoryFor); zero means MaxHistory.
	History int
}

// NewInterceptor returns a filter for one PeerConnection.
func (f Factory) NewInterceptor(string) (interceptor.Interceptor, error) {
	h := f.History
	if h <= 0 || h&(h-1) != 0 {
		h = MaxHistory
	}
	return &nackFilter{streams: map[uint32]*sentLog{}, filtered: f.Filtered, now: time.Now, history: uint16(h)}, nil
}

// nackFilter strikes from incoming NACKs the sequence numbers of packets sent more than nackMaxAge ago,
// unknown ones, and ones already resent nackMaxResends times. Safe for concurrent use.
type nackFilter struct {
	interceptor.NoOp
	filtered *atomic.Uint64
	now      func() time.Time
	history  uint16 // the sentLogs' length, a power of two

	mu      sync.Mutex
	streams map[uint32]*sentLog // by media SSRC
}

// sentLog remembers, per sequence number modulo the filter's history, when a stream's packet was first
// sent and how often it was resent since.
type sentLog struct {
	init    bool
	highest uint16 // the newest sequence number sent
	seq     []uint16
	at      []time.Time
	resends []uint8
}

func newSentLog(n uint16) *sentLog {
	return &sentLog{seq: make([]uint16, n), at: make([]time.Time, n), resends: make([]uint8, n)}
}

// BindLocalStream records the first sending of every packet of the stream. Retransmissions without RTX
// reuse the original sequence number; they are older than the newest one sent and are not recorded again.
func (f *nackFilter) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	l := newSentLog(f.history)
	f.mu.Lock()
	f.streams[info.SSRC] = l
	f.mu.Unlock()
	ssrc := info.SSRC
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC == ssrc {
			now := f.now()
			f.mu.Lock()
			if !l.init || int16(h.SequenceNumber-l.highest) > 0 {
				l.init, l.highest = true, h.SequenceNumber
				i := h.SequenceNumber % f.history
				l.seq[i], l.at[i], l.resends[i] = h.SequenceNumber, now, 0
			}
			f.mu.Unlock()
		}
		return w.Write(h, payload, a)
	})
}

// UnbindLocalStream forgets the stream.
func (f *nackFilter) UnbindLocalStream(info *interceptor.StreamInfo) {
	f.mu.Lock()
	delete(f.streams, info.SSRC)
	f.mu.Unlock()
}

// BindRTCPReader filters the NACKs of every RTCP packet read, in the parsed packets that the outer
// interceptors (the NACK responder among them) take from the attributes.
func (f *nackFilter) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := r.Read(b, a)
		if err != nil {
			return n, a, err
		}
		if a == nil {
			a = interceptor.Attributes{}
		}
		pkts, err := a.GetRTCPPackets(b[:n])
		if err != nil {
			return n, a, nil // the outer interceptors meet the same error and deal with it
		}
		for _, p := range pkts {
			if nack, ok := p.(*rtcp.TransportLayerNack); ok {
				f.filter(nack)
			}
		}
		return n, a, nil
	})
}

// filter rewrites nack's pairs to the sequence numbers worth resending and counts the others.
func (f *nackFilter) filter(nack *rtcp.TransportLayerNack) {
	now := f.now()
	var keep []uint16
	struck := 0
	f.mu.Lock()
	l := f.streams[nack.MediaSSRC]
	for _, pair := range nack.Nacks {
		pair.Range(func(seq uint16) bool {
			i := seq % f.history
			if l == nil || !l.init || l.seq[i] != seq || l.at[i].IsZero() || now.Sub(l.at[i]) > nackMaxAge ||
				l.resends[i] >= nackMaxResends {
				struck++
				return true
			}
			l.resends[i]++
			keep = append(keep, seq)
			return true
		})
	}
	f.mu.Unlock()
	if struck == 0 {
		return
	}
	f.filtered.Add(uint64(struck))
	nack.Nacks = rtcp.NackPairsFromSequenceNumbers(keep)
}
