// Package assembler turns the RTP packets of one video track into whole frames for a decoder, as soon as
// each frame's last packet is in.
package assembler

import (
	"sync"
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
// It belongs to one goroutine. It owns the packets it is given (the caller must not touch them again) and
// gives each to its Recycler once it is done with it: at once for a packet it does not keep, after its
// frame is emitted or given up for the others.
type Assembler struct {
	depacketizer rtp.Depacketizer
	appender     Appender // the depacketizer, when it is one
	maxDelay     time.Duration
	recycler     Recycler // nil: packets are left to the garbage collector

	slots   [assemblerSlots]*Packet
	arrived [assemblerSlots]time.Time
	next    uint16 // sequence number of the first packet of the next frame to emit
	started bool
	lost    bool   // packets were given up since the last emitted frame
	frame   []byte // reused output buffer
}

// PacketSize is the largest RTP packet a Packet holds.
const PacketSize = 1500

// Packet is an RTP packet with the memory it is read into: unmarshalled from Buf, its payload, CSRCs and
// header extensions point into the Packet itself, so that reading a track into Packets from a Pool
// allocates nothing per packet.
type Packet struct {
	rtp.Packet
	// Buf is the buffer a reader reads the datagram into.
	Buf  [PacketSize]byte
	csrc [15]uint32
	ext  [8]rtp.Extension
}

// reset empties p, its header's lists pointing into p's own arrays again (a reader may have pointed them
// elsewhere).
func (p *Packet) reset() {
	p.Packet = rtp.Packet{Header: rtp.Header{CSRC: p.csrc[:0], Extensions: p.ext[:0]}}
}

// Recycler takes back the packets an Assembler is done with.
type Recycler interface {
	Put(p *Packet)
}

// Pool lends Packets to the readers of many tracks and takes them back (a Recycler). The zero value is
// ready; it is safe for concurrent use and must not be copied.
type Pool struct {
	pool sync.Pool
}

// Get returns an empty packet, reused or new.
func (pl *Pool) Get() *Packet {
	if p, ok := pl.pool.Get().(*Packet); ok {
		return p
	}
	p := new(Packet)
	p.reset()
	return p
}

// Put gives p back; nothing may use it afterwards.
func (pl *Pool) Put(p *Packet) {
	p.reset()
	pl.pool.Put(p)
}

// New returns an assembler of the frames of one track, depacketized by d, that waits at most maxDelay
// for a missing packet and gives the packets it is done with to r (nil: to nobody).
func New(d rtp.Depacketizer, maxDelay time.Duration, r Recycler) *Assembler {
	app, _ := d.(Appender)
	return &Assembler{depacketizer: d, appender: app, maxDelay: maxDelay, recycler: r}
}

// Push adds a packet that arrived at now and calls emit for every frame it completes, in order. data is
// valid only during the call; lost reports that frames before this one were given up. The assembler owns
// p from now on.
func (a *Assembler) Push(p *Packet, now time.Time, emit func(data []byte, lost bool)) {
	if !a.started {
		if !a.depacketizer.IsPartitionHead(p.Payload) {
			a.recycle(p) // wait for the start of a frame
			return
		}
		a.started, a.next = true, p.SequenceNumber
	}
	if d := p.SequenceNumber - a.next; d >= 0x8000 {
		a.recycle(p) // before next: late, a duplicate, or a retransmission of a frame given up
		return
	} else if d >= assemblerSlots {
		// Far ahead: everything held is too old to complete. Start over from this packet.
		a.reset(p.SequenceNumber)
	}
	i := p.SequenceNumber % assemblerSlots
	if old := a.slots[i]; old != nil {
		a.recycle(old) // a duplicate replaces the copy held
	}
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
	for i, p := range a.slots {
		if p != nil {
			a.recycle(p)
			a.slots[i] = nil
		}
	}
	a.next = next
	a.lost = true
}

func (a *Assembler) clear(seq uint16) {
	if p := a.slots[seq%assemblerSlots]; p != nil {
		a.recycle(p)
		a.slots[seq%assemblerSlots] = nil
	}
}

// Close gives every packet held to the recycler. The assembler is not used afterwards.
func (a *Assembler) Close() {
	a.reset(a.next)
}

func (a *Assembler) recycle(p *Packet) {
	if a.recycler != nil {
		a.recycler.Put(p)
	}
}
