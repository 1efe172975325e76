package main

// The operators' side of the server: the REST API (/api/v1), recordings and live streams
// (signaling/egress) and webhooks (signaling/webhook), wired to the MCU's lifecycle events.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/api"
	"github.com/openmcu/mcu/signaling/auth"
	"github.com/openmcu/mcu/signaling/chat"
	"github.com/openmcu/mcu/signaling/egress"
	"github.com/openmcu/mcu/signaling/sip"
	"github.com/openmcu/mcu/signaling/webhook"
)

// eventFanout passes the MCU's lifecycle events to each of its listeners, in order. The list is set
// before the server serves anyone and only read after.
type eventFanout struct{ to []mcu.EventListener }

func (f *eventFanout) OnRoomStarted(room string) {
	for _, l := range f.to {
		l.OnRoomStarted(room)
	}
}

func (f *eventFanout) OnRoomFinished(room string) {
	for _, l := range f.to {
		l.OnRoomFinished(room)
	}
}

func (f *eventFanout) OnParticipantJoined(room string, p mcu.ParticipantDetail) {
	for _, l := range f.to {
		l.OnParticipantJoined(room, p)
	}
}

func (f *eventFanout) OnParticipantLeft(room string, p mcu.ParticipantDetail, reason error) {
	for _, l := range f.to {
		l.OnParticipantLeft(room, p, reason)
	}
}

// operations are the API, the recordings and streams, and the webhooks.
type operations struct {
	api    *api.Handler
	egress *egress.Manager
	hooks  *webhook.Sender // nil without -webhook-urls
	chat   *chat.Hub       // the rooms' chat and shared files
}

// newOperations starts the webhooks (when configured) and the recordings manager and adds them to the
// MCU's events; mountAPI then builds the API.
func newOperations(m *mcu.MCU, cfg Config, events *eventFanout, log *slog.Logger) (*operations, error) {
	keys, first, err := auth.LoadKeys(cfg.APIKeys, cfg.APIKeysFile)
	if err != nil {
		return nil, err
	}
	ops := &operations{}
	var listener egress.Listener
	if len(cfg.WebhookURLs) > 0 {
		if ops.hooks, err = webhook.New(webhook.Config{URLs: cfg.WebhookURLs, Keys: keys, Key: first}, log, nil); err != nil {
			return nil, err
		}
		events.to = append(events.to, ops.hooks)
		listener = ops.hooks
		log.Info("webhooks on", "urls", len(cfg.WebhookURLs), "signed_by", first)
	}
	ops.egress, err = egress.New(m, egress.Config{Dir: cfg.RecordDir, AutoRecord: cfg.RecordRooms}, log, listener)
	if err != nil {
		ops.close()
		return nil, err
	}
	events.to = append(events.to, ops.egress)
	return ops, nil
}

// mountAPI builds the API over the MCU, the recordings, SIP's dial-out (s may be nil) and the cluster
// (node may be nil).
func (o *operations) mountAPI(m *mcu.MCU, cfg Config, keys auth.Keys, s *sip.Server, node *clusterNode, log *slog.Logger) {
	p := api.Params{Logger: log, Outputs: o.egress}
	if s != nil {
		p.Dialer = sipDialer{s}
	}
	if node != nil {
		p.Cluster, p.Owner = node, node.owner
	}
	o.api = api.New(m, api.Config{Keys: keys, AdminToken: cfg.AdminToken}, p)
}

// close waits for recordings being started and delivers the webhooks still queued (for a few seconds).
// Call it after the MCU closed, so that the last rooms' events are sent.
func (o *operations) close() {
	if o.egress != nil {
		o.egress.Wait()
	}
	if o.hooks != nil {
		o.hooks.Close(5 * time.Second)
	}
	if o.chat != nil {
		if err := o.chat.Close(); err != nil {
			slog.Warn("close chat", "err", err)
		}
	}
}

// sipDialer is the API's view of the SIP server's dial-out.
type sipDialer struct{ s *sip.Server }

func (d sipDialer) Dial(ctx context.Context, uri, room string) (string, error) {
	id, err := d.s.Dial(ctx, uri, room)
	var status *sip.StatusError
	switch {
	case err == nil:
		return id, nil
	case errors.Is(err, sip.ErrBadURI), errors.Is(err, mcu.ErrBadName):
		return "", fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	case errors.As(err, &status), errors.Is(err, sip.ErrNoAnswer), errors.Is(err, sip.ErrCallEnded),
		errors.Is(err, sip.ErrTooManyCalls), errors.Is(err, sip.ErrServerClosed), errors.Is(err, mcu.ErrRoomFull):
		return "", fmt.Errorf("%w: %v", api.ErrUnavailable, err)
	}
	return "", err
}

func (d sipDialer) Calls() []api.Call {
	calls := d.s.Calls()
	out := make([]api.Call, 0, len(calls))
	for _, c := range calls {
		out = append(out, api.Call{ID: c.ID, Direction: c.Direction, Room: c.Room, Name: c.Name, Peer: c.Peer,
			State: c.State, Participant: string(c.Participant), Started: c.Started})
	}
	return out
}

func (d sipDialer) Hangup(id string) error {
	if err := d.s.Hangup(id); errors.Is(err, sip.ErrNoSuchCall) {
		return fmt.Errorf("%w: %v", api.ErrNotFound, err)
	} else if err != nil {
		return err
	}
	return nil
}

// deprecated marks a response of an old path with the headers of RFC 8594 pointing at its successor.
func deprecated(successor string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Deprecation", "true")
		w.Header().Set("Link", "<"+successor+`>; rel="successor-version"`)
		h.ServeHTTP(w, r)
	})
}
