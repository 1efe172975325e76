package signaling

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// ConnLimiter bounds the signalling connections one client IP may hold at once: WebSocket sockets, WHIP
// publishers and WHEP viewers together. One limiter is shared by every endpoint of a server. Behind a
// reverse proxy every client comes from the proxy's address; list the proxy in trusted and the client's
// own address is taken from X-Forwarded-For (the rightmost address not itself a trusted proxy). Its
// methods are safe for concurrent use.
type ConnLimiter struct {
	max     int // 0: no limit
	trusted []netip.Prefix

	mu sync.Mutex
	n  map[netip.Addr]int

	refused atomic.Uint64
}

// NewConnLimiter returns a limiter of maxPerIP connections per client IP (0: no limit) that believes
// X-Forwarded-For from the trusted proxies.
func NewConnLimiter(maxPerIP int, trusted []netip.Prefix) *ConnLimiter {
	return &ConnLimiter{max: maxPerIP, trusted: slices.Clone(trusted), n: make(map[netip.Addr]int)}
}

// ClientIP returns the IP of the client behind r: its peer address, or, when that is a trusted proxy,
// the rightmost X-Forwarded-For address that is not a trusted proxy. A nil limiter uses the peer address.
func (l *ConnLimiter) ClientIP(r *http.Request) netip.Addr {
	ip := peerIP(r.RemoteAddr)
	if l == nil || !l.isTrusted(ip) {
		return ip
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return ip // a forged or broken header: the proxy itself is the client
		}
		a = a.Unmap()
		if !l.isTrusted(a) {
			return a
		}
	}
	return ip
}

func (l *ConnLimiter) isTrusted(ip netip.Addr) bool {
	for _, p := range l.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Acquire takes one of ip's connections. It returns the function that gives it back (call it once) and
// true, or false when ip holds the maximum already (counted in Refused). A nil limiter always succeeds.
func (l *ConnLimiter) Acquire(ip netip.Addr) (release func(), ok bool) {
	if l == nil || l.max == 0 {
		return func() {}, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[ip] >= l.max {
		l.refused.Add(1)
		return nil, false
	}
	l.n[ip]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.n[ip]--; l.n[ip] <= 0 {
				delete(l.n, ip)
			}
		})
	}, true
}

// Refused returns how many connections were refused for their IP's limit.
func (l *ConnLimiter) Refused() uint64 {
	if l == nil {
		return 0
	}
	return l.refused.Load()
}

// peerIP parses the IP of an "ip:port" remote address; the zero Addr if it does not parse.
func peerIP(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
