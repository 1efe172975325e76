package sip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"golang.org/x/time/rate"
)

// Flood and admission limits: the INVITE rate per source, the TCP connections per source, idle TCP
// connections and oversized messages. The call limits are in Server.register.

// maxRateBuckets bounds the source addresses the INVITE rate limit tracks at once. A bucket that has
// refilled is the same as none and may be forgotten; when the table is full of buckets in use (a flood
// from many, probably spoofed, sources), new sources share one overflow bucket.
const maxRateBuckets = 4096

// rateLimiter is a token bucket per source IP. It is safe for concurrent use.
type rateLimiter struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[netip.Addr]*rate.Limiter
	overflow  *rate.Limiter
	nextSweep time.Time
}

// newRateLimiter returns a limiter of perSecond events a second in bursts of burst per source; nil (no
// limit) when perSecond is 0.
func newRateLimiter(perSecond float64, burst int) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &rateLimiter{limit: rate.Limit(perSecond), burst: burst, buckets: make(map[netip.Addr]*rate.Limiter),
		overflow: rate.NewLimiter(rate.Limit(perSecond), burst)}
}

// allow takes a token of ip's bucket at now. When there is none it returns false and how long until
// there is one (for Retry-After).
func (l *rateLimiter) allow(ip netip.Addr, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[ip]
	if b == nil {
		if len(l.buckets) >= maxRateBuckets {
			l.sweepLocked(now)
		}
		if len(l.buckets) < maxRateBuckets {
			b = rate.NewLimiter(l.limit, l.burst)
			l.buckets[ip] = b
		} else {
			b = l.overflow
		}
	}
	if b.AllowN(now, 1) {
		return true, 0
	}
	wait := time.Duration((1 - b.TokensAt(now)) / float64(l.limit) * float64(time.Second))
	return false, max(wait, 0)
}

// sweepLocked forgets the buckets that are full again, at most once a second.
func (l *rateLimiter) sweepLocked(now time.Time) {
	if now.Before(l.nextSweep) {
		return
	}
	l.nextSweep = now.Add(time.Second)
	for ip, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, ip)
		}
	}
}

// size returns how many sources are tracked.
func (l *rateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// retryAfter is the Retry-After header for a wait: whole seconds, at least 1.
func retryAfter(wait time.Duration) sip.Header {
	secs := max(int64((wait+time.Second-1)/time.Second), 1)
	return sip.NewHeader("Retry-After", strconv.FormatInt(secs, 10))
}

// errMessageTooLarge ends a TCP connection that sent a message larger than Config.MaxMessageSize.
var errMessageTooLarge = errors.New("sip message too large")

// tcpListener is the TCP listener sipgo serves: it closes connections beyond Config.MaxTCPConnsPerIP as
// they are accepted, survives temporary accept errors (running out of file descriptors would otherwise
// end sipgo's TCP serving for good), and hands out tcpConns.
type tcpListener struct {
	net.Listener
	s *Server
}

func (l *tcpListener) Accept() (net.Conn, error) {
	const minDelay, maxDelay = 5 * time.Millisecond, time.Second
	delay := minDelay
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.s.ctx.Err() != nil {
				return nil, err
			}
			l.s.log.Warn("sip tcp accept failed", "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.s.ctx.Done():
				t.Stop()
				return nil, err
			}
			delay = min(2*delay, maxDelay)
			continue
		}
		delay = minDelay
		ip := netip.Addr{}
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			ip = ta.AddrPort().Addr().Unmap()
		}
		if !l.s.openTCP(ip) {
			l.s.log.Debug("sip tcp connection refused: too many from its address", "source", c.RemoteAddr().String())
			c.Close()
			continue
		}
		return &tcpConn{Conn: c, s: l.s, ip: ip, raddr: c.RemoteAddr().String()}, nil
	}
}

// openTCP counts a new TCP connection from ip; false (counted in Stats.TCPRefused) when ip has
// Config.MaxTCPConnsPerIP open already and is not trusted.
func (s *Server) openTCP(ip netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.cfg.MaxTCPConnsPerIP; n > 0 && s.tcpConns[ip] >= n && !s.isTrusted(ip) {
		s.tcpRefused.Add(1)
		return false
	}
	s.tcpConns[ip]++
	return true
}

// closeTCP forgets a TCP connection counted by openTCP.
func (s *Server) closeTCP(ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tcpConns[ip] <= 1 {
		delete(s.tcpConns, ip)
	} else {
		s.tcpConns[ip]--
	}
}

// hasTCPCall reports whether a call not ending runs over the TCP connection from raddr.
func (s *Server) hasTCPCall(raddr string) bool {
	s.mu.Lock()
	calls := make([]*session, 0, len(s.sessions))
	for _, c := range s.sessions {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	for _, c := range calls {
		c.mu.Lock()
		on := c.transport == "TCP" && c.dest == raddr && c.state != stateEnding
		c.mu.Unlock()
		if on {
			return true
		}
	}
	return false
}

// tcpConn is an accepted TCP connection: every Read pushes its read deadline Config.TCPIdleTimeout
// ahead (anything read counts, keep-alive CRLFs too), and a connection that stays idle that long is
// ended, counted in Stats.TCPIdleClosed, unless a call runs over it. It follows the message boundaries and
// ends the connection (counted in Stats.Oversized) on a message larger than Config.MaxMessageSize before
// sipgo buffers it. Read belongs to sipgo's reader goroutine.
type tcpConn struct {
	net.Conn
	s         *Server
	ip        netip.Addr
	raddr     string // sipgo's source of the connection's requests
	frame     tcpFramer
	closeOnce sync.Once
}

func (c *tcpConn) Read(b []byte) (int, error) {
	idle := c.s.cfg.TCPIdleTimeout
	for {
		if idle > 0 {
			if err := c.Conn.SetReadDeadline(time.Now().Add(idle)); err != nil {
				return 0, err
			}
		}
		n, err := c.Conn.Read(b)
		if n > 0 && !c.frame.feed(b[:n], c.s.cfg.MaxMessageSize) {
			c.s.oversized.Add(1)
			c.s.log.Debug("sip tcp message too large: connection closed", "source", c.raddr, "max", c.s.cfg.MaxMessageSize)
			return 0, errMessageTooLarge
		}
		var ne net.Error
		if n == 0 && idle > 0 && errors.As(err, &ne) && ne.Timeout() {
			if c.s.hasTCPCall(c.raddr) {
				continue // a call's connection may be quiet for long: keep it
			}
			c.s.tcpIdle.Add(1)
			c.s.log.Debug("sip tcp connection idle: closed", "source", c.raddr, "idle", idle)
			return 0, fmt.Errorf("sip tcp connection idle for %v: %w", idle, err)
		}
		return n, err
	}
}

func (c *tcpConn) Close() error {
	c.closeOnce.Do(func() { c.s.closeTCP(c.ip) })
	return c.Conn.Close()
}

// tcpFramer follows the message boundaries of a SIP stream (RFC 3261 7.5: the start line and headers end
// with an empty line, then Content-Length bytes of body) so that a message larger than the limit is
// refused before it is buffered. CRLFs between messages (keep-alives) are not part of any message. It
// keeps at most one header line. It belongs to the connection's reader.
type tcpFramer struct {
	line    []byte // the start of a header line not ended yet
	head    int    // bytes of the current message's start line and headers so far
	started bool   // the current message's start line has begun
	length  int    // the current message's Content-Length (the last given)
	body    int    // body bytes still to come
}

// feed takes the next bytes of the stream and reports whether every message in them is within max
// bytes.
func (f *tcpFramer) feed(b []byte, max int) bool {
	for len(b) > 0 {
		if f.body > 0 {
			n := min(f.body, len(b))
			f.body -= n
			b = b[n:]
			continue
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if f.head += len(b); f.head > max {
				return false
			}
			f.line = append(f.line, b...)
			return true
		}
		chunk := b[:i+1]
		b = b[i+1:]
		line := chunk
		if len(f.line) > 0 {
			f.line = append(f.line, chunk...)
			line = f.line
		}
		ok := f.endLine(line, len(chunk), max)
		f.line = f.line[:0]
		if !ok {
			return false
		}
	}
	return true
}

// endLine takes one whole line of n new bytes.
func (f *tcpFramer) endLine(line []byte, n, max int) bool {
	line = bytes.TrimRight(line, "\r\n")
	if len(line) == 0 && !f.started {
		f.head = 0 // a keep-alive between messages
		return true
	}
	if f.head += n; f.head > max {
		return false
	}
	switch {
	case len(line) == 0: // the end of the headers
		if f.head+f.length > max {
			return false
		}
		f.body, f.head, f.started, f.length = f.length, 0, false, 0
	case !f.started:
		f.started = true // the start line
	case line[0] != ' ' && line[0] != '\t':
		name, value, ok := bytes.Cut(line, []byte(":"))
		name = bytes.TrimRight(name, " \t")
		if !ok || !bytes.EqualFold(name, []byte("Content-Length")) && !bytes.EqualFold(name, []byte("l")) {
			break
		}
		value = bytes.TrimSpace(value)
		if len(value) > 1 {
			value = append([]byte(nil), bytes.TrimLeft(value, "0")...)
			if len(value) == 0 {
				value = []byte("0")
			}
		}
		if len(value) > 9 {
			return false // a billion bytes or more (or garbage sipgo will refuse)
		}
		if v, err := strconv.Atoi(string(value)); err == nil && v >= 0 {
			f.length = v
		}
	}
	return true
}
