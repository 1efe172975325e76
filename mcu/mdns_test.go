package mcu_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmcu/mcu/codec/codectest"
	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/mcu/mcutest"
)

// lockedBuffer is a log destination tests can read while the server writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// candidateAddr is the address field of an a=candidate line.
var candidateAddr = regexp.MustCompile(`(?m)^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)`)

// TestMDNSHostCandidates: a client that names its host candidates by mDNS, as browsers do, so the
// server never sees its address in signalling, still connects, sends and receives: the server learns its
// address from its connectivity checks. The server neither resolves nor warns about the .local names
// (offered or trickled).
func TestMDNSHostCandidates(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test over loopback")
	}
	var logs lockedBuffer
	m, err := mcu.New(smallConfig(), mcu.Params{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	s := join(t, m, "room", "S", 0, 430)
	defer s.client.Close()

	client, err := mcutest.New(mcutest.Config{Colour: palette[1].YUV(), ToneHz: 520, IncludeLoopback: true,
		Interfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	l := newListener()
	p, err := m.Join("room", "M", l)
	if err != nil {
		t.Fatal(err)
	}
	offer, err := client.Offer()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	hidden := candidateAddr.ReplaceAllStringFunc(offer, func(line string) string {
		n++
		sub := candidateAddr.FindStringSubmatch(line)
		return fmt.Sprintf("%s%08x-0000-4000-8000-%012d.local", sub[1], n, n)
	})
	if n == 0 || strings.Count(hidden, ".local ") != n {
		t.Fatalf("the client's offer has %d candidates to hide:\n%s", n, offer)
	}
	answer, err := p.HandleOffer(hidden)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddICECandidate(mcu.ICECandidate{Candidate: "candidate:9 1 udp 2122260223 " +
		"0000000a-0000-4000-8000-000000000009.local 50000 typ host"}); err != nil {
		t.Errorf("a trickled .local candidate: %v", err)
	}
	if err := client.SetAnswer(answer); err != nil {
		t.Fatal(err)
	}
	me := &party{name: "M", colour: 1, tone: 520, client: client, p: p, l: l}
	codectest.Require(t, 20*time.Second, func() error { return checkView(me, []*party{s}, nil, 640, 360, 20) })
	codectest.Require(t, 20*time.Second, func() error { return checkView(s, []*party{me}, nil, 640, 360, 20) })
	if strings.Contains(strings.ToLower(logs.String()), "mdns") {
		t.Errorf("the server logged about mDNS:\n%s", logs.String())
	}
}
