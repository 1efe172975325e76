package mcutest

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// relayQueueDelay is the longest a datagram waits in a Relay's queue; one that would wait longer is
// dropped (a drop-tail bottleneck, like tc's tbf with latency 200ms).
const relayQueueDelay = 200 * time.Millisecond

// Relay is a rate-limited UDP path on the loopback interface between one client and one server, for
// tests: each side is told (by rewriting the ICE candidates in the offer and the answer) that the other
// is at one of the relay's two sockets, so every datagram in both directions goes through it. The
// server-to-client direction goes through a bottleneck the test controls (SetRate): a FIFO that sends at
// the rate and drops what would wait more than 200 ms. The client-to-server direction is not limited.
//
// Use it with a client that gathers only an IPv4 loopback host candidate (Interfaces "lo"), and do not
// pass trickled server candidates to the client: they would bypass the relay.
//
// Goroutines: one reader per socket and one sender for the limited direction; Close stops them. Its
// methods are safe for concurrent use.
type Relay struct {
	toServer *net.UDPConn // faces the server: the client's address as the server sees it
	toClient *net.UDPConn // faces the client: the server's address as the client sees it
	queue    chan relayPacket
	wg       sync.WaitGroup
	done     chan struct{}

	mu         sync.Mutex
	client     *net.UDPAddr
	server     *net.UDPAddr
	rate       int       // bit/s; 0: unlimited
	nextFree   time.Time // when the bottleneck is free again
	stats      RelayStats
	lastAudio  time.Time
	closedOnce sync.Once
}

type relayPacket struct {
	b  []byte
	at time.Time // departure
}

// RelayStats count what went through the limited (server-to-client) direction since the last
// Relay.TakeStats. Bitrates count UDP payload bytes. It is plain data.
type RelayStats struct {
	Window time.Duration // the time the stats cover
	// OfferedBytes and OfferedPackets came from the server; DeliveredBytes and DeliveredPackets went to
	// the client; DroppedPackets were dropped at the bottleneck.
	OfferedBytes, DeliveredBytes                     uint64
	OfferedPackets, DeliveredPackets, DroppedPackets uint64
	// AudioPackets counts delivered RTP packets of payload type 111 (Opus); MaxAudioGap is the longest
	// time between two of them (including the gap from the previous window's last one).
	AudioPackets uint64
	MaxAudioGap  time.Duration

	start time.Time
}

// OfferedBitrate and DeliveredBitrate are the window's bitrates in bit/s.
func (s RelayStats) OfferedBitrate() int {
	return int(float64(s.OfferedBytes) * 8 / s.Window.Seconds())
}

// DeliveredBitrate is the bitrate delivered to the client over the window, in bit/s.
func (s RelayStats) DeliveredBitrate() int {
	return int(float64(s.DeliveredBytes) * 8 / s.Window.Seconds())
}

// NewRelay opens the relay's two sockets on 127.0.0.1 and starts forwarding, unlimited.
func NewRelay() (*Relay, error) {
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	a, err := net.ListenUDP("udp4", lo)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	b, err := net.ListenUDP("udp4", lo)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("relay: %w", err)
	}
	r := &Relay{toServer: a, toClient: b, queue: make(chan relayPacket, 4096), done: make(chan struct{})}
	r.stats.start = time.Now()
	r.wg.Add(3)
	go r.readServer()
	go r.readClient()
	go r.send()
	return r, nil
}

// SetRate limits the server-to-client direction to bps bits per second (of UDP payload); 0 lifts the
// limit. Datagrams already queued keep their departure times.
func (r *Relay) SetRate(bps int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rate = bps
}

// TakeStats returns the stats since the previous call (or the start) and starts a new window.
func (r *Relay) TakeStats() RelayStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	s := r.stats
	s.Window = now.Sub(s.start)
	if !r.lastAudio.IsZero() {
		s.MaxAudioGap = max(s.MaxAudioGap, now.Sub(r.lastAudio))
	}
	r.stats = RelayStats{start: now}
	return s
}

// RewriteOffer takes the client's offer, remembers its IPv4 UDP candidate and returns the offer with
// only that candidate, pointing at the relay.
func (r *Relay) RewriteOffer(offer string) (string, error) {
	out, addr, err := rewriteCandidate(offer, r.toServer.LocalAddr().(*net.UDPAddr))
	if err != nil {
		return "", fmt.Errorf("relay: offer: %w", err)
	}
	r.mu.Lock()
	r.client = addr
	r.mu.Unlock()
	return out, nil
}

// RewriteAnswer takes the server's answer, remembers its IPv4 UDP candidate and returns the answer
// with only that candidate, pointing at the relay.
func (r *Relay) RewriteAnswer(answer string) (string, error) {
	out, addr, err := rewriteCandidate(answer, r.toClient.LocalAddr().(*net.UDPAddr))
	if err != nil {
		return "", fmt.Errorf("relay: answer: %w", err)
	}
	r.mu.Lock()
	r.server = addr
	r.mu.Unlock()
	return out, nil
}

// rewriteCandidate keeps the first IPv4 UDP host candidate of sdp, pointed at to, drops every other
// candidate, and returns the original address.
func rewriteCandidate(sdp string, to *net.UDPAddr) (string, *net.UDPAddr, error) {
	var found *net.UDPAddr
	var out []string
	for _, line := range strings.Split(sdp, "\r\n") {
		if !strings.HasPrefix(line, "a=candidate:") {
			out = append(out, line)
			continue
		}
		// a=candidate:FOUNDATION COMPONENT udp PRIORITY IP PORT typ host ...
		f := strings.Fields(line)
		if len(f) < 8 || !strings.EqualFold(f[2], "udp") || f[7] != "host" {
			continue
		}
		ip := net.ParseIP(f[4])
		port, err := strconv.Atoi(f[5])
		if ip == nil || ip.To4() == nil || err != nil {
			continue
		}
		if found == nil {
			found = &net.UDPAddr{IP: ip, Port: port}
		} else if found.String() != (&net.UDPAddr{IP: ip, Port: port}).String() {
			continue
		}
		f[4], f[5] = to.IP.String(), strconv.Itoa(to.Port)
		out = append(out, strings.Join(f, " "))
	}
	if found == nil {
		return "", nil, errors.New("no IPv4 UDP host candidate")
	}
	return strings.Join(out, "\r\n"), found, nil
}

// Close stops forwarding and waits for the relay's goroutines. It is idempotent.
func (r *Relay) Close() error {
	var err error
	r.closedOnce.Do(func() {
		close(r.done)
		err = errors.Join(r.toServer.Close(), r.toClient.Close())
		r.wg.Wait()
	})
	return err
}

// readServer queues the server's datagrams for the client at the bottleneck's rate.
func (r *Relay) readServer() {
	defer r.wg.Done()
	buf := make([]byte, 1<<16)
	for {
		n, _, err := r.toServer.ReadFromUDP(buf)
		if err != nil {
			return
		}
		now := time.Now()
		r.mu.Lock()
		r.stats.OfferedBytes += uint64(n)
		r.stats.OfferedPackets++
		at := now
		if r.nextFree.After(now) {
			at = r.nextFree
		}
		if at.Sub(now) > relayQueueDelay {
			r.stats.DroppedPackets++
			r.mu.Unlock()
			continue
		}
		if r.rate > 0 {
			r.nextFree = at.Add(time.Duration(float64(n) * 8 / float64(r.rate) * float64(time.Second)))
		} else {
			r.nextFree = at
		}
		r.mu.Unlock()
		select {
		case r.queue <- relayPacket{b: append([]byte(nil), buf[:n]...), at: at}:
		default:
			r.mu.Lock()
			r.stats.DroppedPackets++
			r.mu.Unlock()
		}
	}
}

// send delivers the queued datagrams to the client at their departure times.
func (r *Relay) send() {
	defer r.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var p relayPacket
		select {
		case <-r.done:
			return
		case p = <-r.queue:
		}
		if d := time.Until(p.at); d > 0 {
			timer.Reset(d)
			select {
			case <-r.done:
				return
			case <-timer.C:
			}
		}
		r.mu.Lock()
		client := r.client
		r.mu.Unlock()
		if client == nil {
			continue
		}
		if _, err := r.toClient.WriteToUDP(p.b, client); err != nil {
			continue
		}
		now := time.Now()
		r.mu.Lock()
		r.stats.DeliveredBytes += uint64(len(p.b))
		r.stats.DeliveredPackets++
		// RTP (version 2, not RTCP) with payload type 111: Opus.
		if len(p.b) >= 12 && p.b[0]>>6 == 2 && p.b[1]&0x7f == 111 {
			r.stats.AudioPackets++
			if !r.lastAudio.IsZero() {
				r.stats.MaxAudioGap = max(r.stats.MaxAudioGap, now.Sub(r.lastAudio))
			}
			r.lastAudio = now
		}
		r.mu.Unlock()
	}
}

// readClient forwards the client's datagrams to the server, unlimited.
func (r *Relay) readClient() {
	defer r.wg.Done()
	buf := make([]byte, 1<<16)
	for {
		n, _, err := r.toClient.ReadFromUDP(buf)
		if err != nil {
			return
		}
		r.mu.Lock()
		server := r.server
		r.mu.Unlock()
		if server != nil {
			_, _ = r.toServer.WriteToUDP(buf[:n], server)
		}
	}
}
