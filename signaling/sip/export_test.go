package sip

import (
	"context"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Hooks for the external tests (package sip_test, which can use siptest: an internal test cannot, since
// siptest imports this package).

// Route hands req to the server's handler for its method, as sipgo's router does (unknown methods to
// onOther), through the handler wrapper.
func (s *Server) Route(req *sip.Request, tx sip.ServerTransaction) {
	h := map[sip.RequestMethod]func(*sip.Request, sip.ServerTransaction){
		sip.INVITE: s.onInvite, sip.ACK: s.onAck, sip.BYE: s.onBye, sip.CANCEL: s.onCancel,
		sip.OPTIONS: s.onOptions, sip.INFO: s.onInfo,
	}[req.Method]
	if h == nil {
		h = s.onOther
	}
	s.handler(h)(req, tx)
}

// Parser returns the transport's parser.
func (s *Server) Parser() *sip.Parser { return s.parser }

// TooLarge is readFilter's size check.
func (s *Server) TooLarge(transport string, data []byte) bool { return s.tooLarge(transport, data) }

// SetTransact replaces how the server sends its own requests (BYE, CANCEL).
func (s *Server) SetTransact(f func(ctx context.Context, req *sip.Request) (*sip.Response, error)) {
	tf := transactFunc(f)
	s.transact.Store(&tf)
}

// SetAckTimeout changes how long a 2xx waits for its ACK.
func (s *Server) SetAckTimeout(d time.Duration) { s.ackTimeout.Store(int64(d)) }

// Tables returns the sizes of the server's tables: sessions, dialogs, per-IP call counts, TCP connection
// counts.
func (s *Server) Tables() (sessions, dialogs, perIP, tcpConns int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions), len(s.dialogs), len(s.perIP), len(s.tcpConns)
}
