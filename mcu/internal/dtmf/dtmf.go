// Package dtmf decodes RFC 4733 telephone-events into key presses.
package dtmf

// Decoder turns RFC 4733 telephone-event packets into key presses. An endpoint sends each event
// several times while the key is down (same RTP timestamp, growing duration, the marker bit on the first
// packet) and its end packet three times; the decoder reports each event once, when its first packet
// arrives. A packet whose timestamp is new starts an event, except the next segment of a long event
// (RFC 4733 section 2.5.1.3: the same event, not ended, without the marker bit). Only the first event
// block of a packet is read. It belongs to one goroutine; the zero value is ready for use.
type Decoder struct {
	started bool
	ts      uint32 // RTP timestamp of the current event
	event   uint8
	ended   bool // an end packet of the current event has arrived
}

// Push takes the payload of a telephone-event packet with its RTP timestamp and marker bit, and returns
// the digit ('0'-'9', '*', '#', 'A'-'D') of the key press it starts, if it starts one. Payloads shorter
// than an event block, events other than DTMF (16 and up) and packets older than the current event are
// ignored.
func (d *Decoder) Push(payload []byte, ts uint32, marker bool) (digit rune, ok bool) {
	if len(payload) < 4 {
		return 0, false
	}
	event, end := payload[0], payload[1]&0x80 != 0
	if event > 15 {
		return 0, false
	}
	if d.started {
		switch {
		case ts == d.ts:
			if event == d.event {
				d.ended = d.ended || end
			}
			return 0, false // a repetition of the current event
		case int32(ts-d.ts) < 0:
			return 0, false // a late packet of an earlier event
		case !marker && !d.ended && event == d.event:
			d.ts, d.ended = ts, end // the next segment of a long event
			return 0, false
		}
	}
	d.started, d.ts, d.event, d.ended = true, ts, event, end
	return eventDigit(event), true
}

// eventDigit returns the key of DTMF event e (0 to 15).
func eventDigit(e uint8) rune {
	switch {
	case e <= 9:
		return rune('0' + e)
	case e == 10:
		return '*'
	case e == 11:
		return '#'
	}
	return rune('A' + e - 12)
}
