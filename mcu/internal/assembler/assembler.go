// Package assembler turns the RTP packets of one video track into whole frames for a decoder, as soon as
// each frame's last packet is in.
package assembler

import (
	"time"

	"github.com/pion/rtp"
)

// assemblerSlots is how many packets an Assembler holds at most (a power of two): enough for a few
// 720p keyframes.
const assemblerSlots = 1024

// Assembler turns the RTP packets of one video track into whole frames. Unlike pion's samplebuilder,
// which hands a frame over only when the first packet of the next one arrives (a frame interval of added
// latency), it emits a frame as soon as its last packet (the partition tail, the marker bit) is in and no
// packet of it is missing. A frame with a missing packet waits up to maxDelay for a retransmission; then
// it is given up, and the next frame that starts cleanly is emitted with lost set, so the decoder knows
// its references are broken.
//
// It belongs to one goroutine and keeps the packets it is given (they must not be reused by the caller).
type Assembler struct {
	depacketizer rtp.Depacketizer
	appender     Appender // the depacketizer, when it is one
	maxDelay     time.Duration

	slots   [assemblerSlots]*rtp.Packet
	arrived [assemblerSlots]time.Time
	next    uint16 // sequence number of the first packet of the next frame to emit
	started bool
	lost    bool   // packets were given up since the last emitted frame
	frame   []byte // reused output buffer
}

// New returns an assembler of the frames of one track, depacketized by d, that waits at most maxDelay
// for a missing packet.
func New(d rtp.Depacketizer, maxDelay time.Duration) *Assembler {
	app, _ := d.(Appender)
	return &Assembler{depacketizer: d, appender: app, maxDelay: maxDelay}
}

// Push adds a packet that arrived at now and calls emit for every frame it completes, in order. data is
// valid only during the call; lost reports that frames before this one were given up.
func (a *Assembler) Push(p *rtp.Packet, now time.Time, emit func(data []byte, lost bool)) {
	if !a.started {
		if !a.depacketizer.IsPartitionHead(p.Payload) {
			return // wait for the start of a frame
		}
		a.started, a.next = true, p.SequenceNumber
	}
	if d := p.SequenceNumber - a.next; d >= 0x8000 {
		return // before next: late, a duplicate, or a retransmission of a frame given up
	} else if d >= assemblerSlots {
		// Far ahead: everything held is too old to complete. Start over from this packet.
		a.reset(p.SequenceNumber)
	}
	i := p.SequenceNumber % assemblerSlots
	a.slots[i], a.arrived[i] = p, now
	for a.emitOne(now, emit) {
	}
}

// emitOne emits the frame starting at next if it is complete, or skips a frame that waited too long for a
// missing packet. It reports whether it made progress.
func (a *Assembler) emitOne(now time.Time, emit func([]byte, bool)) bool {
	first := a.slots[a.next%assemblerSlots]
	if first == nil {
		return a.skipStale(now)
	}
	if !a.depacketizer.IsPartitionHead(first.Payload) {
		a.dropHead()
		return true
	}
	for seq := a.next; ; seq++ {
		p := a.slots[seq%assemblerSlots]
		if p == nil {
			return a.skipStale(now) // a hole inside the frame
		}
		if p.Timestamp != first.Timestamp {
			// The frame ended without its tail (the marker was lost with no packet missing, or the
			// sender does not set it): give the frame up.
			a.giveUp(seq)
			return true
		}
		if !a.depacketizer.IsPartitionTail(p.Marker, p.Payload) {
			if seq-a.next >= assemblerSlots-1 {
				a.giveUp(seq + 1)
				return true
			}
			continue
		}
		a.frame = a.frame[:0]
		ok := true
		for s := a.next; ; s++ {
			pk := a.slots[s%assemblerSlots]
			var err error
			if a.appender != nil {
				a.frame, err = a.appender.AppendPayload(a.frame, pk.Payload, s == seq)
			} else {
				var data []byte
				data, err = a.depacketizer.Unmarshal(pk.Payload)
				a.frame = append(a.frame, data...)
			}
			if err != nil {
				ok = false
			}
			a.clear(s)
			if s == seq {
				break
			}
		}
		a.next = seq + 1
		if ok && len(a.frame) > 0 {
			lost := a.lost
			a.lost = false
			emit(a.frame, lost)
		} else {
			a.lost = true
		}
		return true
	}
}

// skipStale gives up on the frame at next when the oldest packet held has waited longer than maxDelay:
// it moves next to the first packet after a hole that starts a frame. It reports whether it moved.
func (a *Assembler) skipStale(now time.Time) bool {
	oldest := time.Time{}
	for s := a.next; s != a.next+assemblerSlots; s++ {
		if p := a.slots[s%assemblerSlots]; p != nil {
			if t := a.arrived[s%assemblerSlots]; oldest.IsZero() || t.Before(oldest) {
				oldest = t
			}
		}
	}
	if oldest.IsZero() || now.Sub(oldest) < a.maxDelay {
		return false
	}
	// Find the next packet that begins a frame after a hole, and drop everything before it.
	hole := false
	for s := a.next; s != a.next+assemblerSlots; s++ {
		p := a.slots[s%assemblerSlots]
		if p == nil {
			hole = true
			continue
		}
		if hole && a.depacketizer.IsPartitionHead(p.Payload) {
			a.giveUp(s)
			return true
		}
	}
	a.reset(a.next + assemblerSlots)
	a.started = false
	return true
}

// giveUp drops every packet before seq and marks frames as lost.
func (a *Assembler) giveUp(seq uint16) {
	for s := a.next; s != seq; s++ {
		a.clear(s)
	}
	a.next = seq
	a.lost = true
}

func (a *Assembler) dropHead() {
	a.clear(a.next)
	a.next++
	a.lost = true
}

func (a *Assembler) reset(next uint16) {
	clear(a.slots[:])
	a.next = next
	a.lost = true
}

func (a *Assembler) clear(seq uint16) {
	a.slots[seq%assemblerSlots] = nil
}
