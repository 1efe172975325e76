package main

import (
	"maps"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openmcu/mcu/mcu"
	"github.com/openmcu/mcu/signaling/chat"
	"github.com/openmcu/mcu/signaling/turn"
	"github.com/openmcu/mcu/signaling/webhook"
)

// statsSource is what the metrics read: *mcu.MCU.
type statsSource interface{ Stats() mcu.Stats }

// sessionSource counts the signalling sessions by kind (websocket, whip, whep, sip); nil: none.
type sessionSource func() map[string]int

// edgeStats are the signalling layer's counts of hostile or broken input: panics recovered by where,
// refusals by limit.
type edgeStats struct {
	Panics, Refusals map[string]uint64
}

// edgeSource reads the signalling layer's edgeStats; nil: none.
type edgeSource func() edgeStats

// webhookSource reads the webhook sender's counts; nil: no webhooks.
type webhookSource func() webhook.Stats

// chatSource reads the chat's counts; nil: no chat.
type chatSource func() chat.Stats

// turnSource reads the embedded TURN server's counts; false: no embedded TURN.
type turnSource func() (turn.Stats, bool)

// clusterSource reads this node's cluster counts and the rooms it owns; false: no cluster.
type clusterSource func() (clusterStats, bool)

// clusterStats are a node's numbers in its cluster.
type clusterStats struct {
	Node                                                  string
	Healthy                                               bool
	Leases                                                int
	Rooms                                                 []string // the rooms this node owns
	ClaimsWon, ClaimsLost, Lost, DeadTaken, RenewFailures uint64
	Cascade                                               cascadeStats // the links of cascaded rooms
}

// metricsSources are what the metrics read besides the MCU; each may be nil.
type metricsSources struct {
	sessions sessionSource
	edge     edgeSource
	hooks    webhookSource
	chat     chatSource
	turn     turnSource
	cluster  clusterSource
}

// metricsHandler serves the server's metrics in the Prometheus text format, read from src and the
// sources at each scrape, plus the Go runtime and process metrics, from a registry of its own (no global
// state). Labels carry room names and participant IDs, never display names.
func metricsHandler(src statsSource, s metricsSources) http.Handler {
	reg := prometheus.NewRegistry()
	c := newStatsCollector(src)
	c.chatOf = s.chat
	c.turnOf = s.turn
	c.sessionsOf = s.sessions
	c.edgeOf = s.edge
	c.webhooksOf = s.hooks
	c.clusterOf = s.cluster
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), c)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

type statsCollector struct {
	src                                       statsSource
	rooms, participants, encoders, decoders   *prometheus.Desc
	framesIn, framesOut, framesDropped        *prometheus.Desc
	packetsLost, decodeErrors, plis, keyframe *prometheus.Desc
	writeErrors, latency, tierEncoders        *prometheus.Desc
	psnr                                      *prometheus.Desc
	decoded, notDecoded, decodersActive       *prometheus.Desc
	shedLevel, framesShed, tickLate           *prometheus.Desc
	audioUnderruns, audioTrimmed, audioAccel  *prometheus.Desc
	encodeWait                                *prometheus.Desc
	receiversByTier, tierChanges              *prometheus.Desc
	nacksFiltered, rtpPackets                 *prometheus.Desc
	sessions                                  *prometheus.Desc
	sessionsOf                                sessionSource
	panics, refusals                          *prometheus.Desc
	edgeOf                                    edgeSource
	outputs, outputDropped, webhooks          *prometheus.Desc
	webhooksOf                                webhookSource
	chatMessages, chatFiles, chatFileBytes    *prometheus.Desc
	chatRejected, chatDropped                 *prometheus.Desc
	chatOf                                    chatSource
	turnAllocs, turnAllocsTotal, turnConns    *prometheus.Desc
	byRoute                                   *prometheus.Desc
	clusterHealthy, clusterLeases, roomOwner  *prometheus.Desc
	clusterClaims, clusterLost                *prometheus.Desc
	cascadeLinks, cascadeRTT, cascadeEvents   *prometheus.Desc
	cascadePackets, cascadeBytes              *prometheus.Desc
	clusterOf                                 clusterSource
	turnBytes, turnRefused                    *prometheus.Desc
	turnOf                                    turnSource

	// Per room and per participant.
	roomParticipants, roomEncoders, roomTierEncoders *prometheus.Desc
	partTier, partEstimate, partSent, partLoss       *prometheus.Desc
	partKeyframeRequests, partKeyframesForced        *prometheus.Desc
}

func newStatsCollector(src statsSource) *statsCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("mcu_"+name, help, labels, nil)
	}
	return &statsCollector{
		src:                  src,
		rooms:                d("rooms", "Rooms open."),
		participants:         d("participants", "Participants in all rooms."),
		encoders:             d("encoders", "Encoders running: audio (one per distinct mix) and video (one per view and size).", "kind"),
		decoders:             d("decoders", "Incoming tracks being decoded.", "kind"),
		framesIn:             d("video_frames_in_total", "Decoded incoming pictures handed to a compositor."),
		framesOut:            d("video_frames_out_total", "Encoded composed pictures."),
		framesDropped:        d("video_frames_dropped_total", "Composed pictures an encoder did not take in time."),
		packetsLost:          d("audio_packets_lost_total", "Incoming audio packets missing in sequence (concealed)."),
		decodeErrors:         d("decode_errors_total", "Incoming frames that failed to decode."),
		plis:                 d("plis_sent_total", "Keyframe requests sent to publishers."),
		keyframe:             d("keyframes_forced_total", "IDRs forced on output encoders."),
		writeErrors:          d("write_errors_total", "Outgoing samples that failed to be sent."),
		tierEncoders:         d("video_encoders_by_tier", "Video encoders running per output tier.", "tier"),
		decoded:              d("video_frames_decoded_total", "Incoming video frames given to a decoder."),
		receiversByTier:      d("receivers_by_tier", "Participants receiving each tier (audio-only: no video fits their link).", "tier"),
		tierChanges:          d("tier_changes_total", "Times bandwidth estimation moved a participant to another tier."),
		notDecoded:           d("video_frames_not_decoded_total", "Incoming video frames not decoded: their sender was visible to nobody or had its camera off."),
		shedLevel:            d("video_shed_level", "The server's video shed level: 0 none; above, audio ran late and the compositors draw fewer frames (1 halves views watched by one receiver, 2 halves all, 3 a third, 4 a sixth; 5 and above also move every video receiver that many less 4 tiers down)."),
		encodeWait:           d("video_encode_wait_seconds_total", "Time video encoders waited for the CPU: at most as many encodes run at once as the server has cores; it grows when video work exceeds the CPU."),
		audioUnderruns:       d("audio_input_underruns_total", "Times an audio source had no frame for its mixer's tick (it plays silence and buffers again): late or lost audio from a participant."),
		audioTrimmed:         d("audio_input_frames_trimmed_total", "Audio frames dropped whole (quiet, or heard by nobody) because their source held more than its arrival jitter needs."),
		audioAccel:           d("audio_input_accelerated_seconds_total", "Audio cut from sources in the mix by cross-fading at a pitch period, to shed delay their arrival jitter does not need."),
		tickLate:             d("audio_tick_late_seconds", "How long after its due time each audio mixer tick sent its last packet (wakeup delay plus mixing, encoding and sending): CPU pressure shows here first, and video shedding watches it."),
		framesShed:           d("video_frames_shed_total", "Pictures the compositors did not draw to leave CPU time to audio (video shedding)."),
		decodersActive:       d("video_decoders_active", "Incoming video tracks being decoded now (their sender is visible to someone)."),
		nacksFiltered:        d("nacks_filtered_total", "Packets receivers asked to be resent that were not: sent over a second ago or resent twice already."),
		sessions:             d("signaling_sessions", "Signalling sessions open now: websocket (the page), whip (publishers), whep (viewers), sip (calls).", "kind"),
		rtpPackets:           d("rtp_packets_total", "Plain-RTP (SIP) packets: received and accepted, dropped (wrong source address, malformed, payload type not negotiated, too large), sent, and unsent (nothing heard from the peer yet: strict RTP).", "kind"),
		roomParticipants:     d("room_participants", "Participants in the room (viewers included).", "room"),
		roomEncoders:         d("room_encoders", "Encoders running for the room: audio (one per distinct mix and audio class) and video.", "room", "kind"),
		roomTierEncoders:     d("room_video_encoders_by_tier", "Video encoders running for the room per tier: one per view and tier in use (and codec).", "room", "tier"),
		partTier:             d("participant_tier", "1 for the tier the participant receives (audio-only: no video), with what limits it (caps, bandwidth or nothing).", "room", "participant", "tier", "limit"),
		panics:               d("panics_total", "Panics recovered, by where: room (its participants were removed), ingest, rtcp, bwe, callback (the participant was removed), websocket, http, sip (that connection or request ended).", "where"),
		refusals:             d("refusals_total", "Requests refused by an admission limit, by limit.", "limit"),
		partEstimate:         d("participant_estimated_bitrate_bps", "Send-side bandwidth estimate (GCC from TWCC feedback) of the participant's downstream link; 0 without feedback.", "room", "participant"),
		partSent:             d("participant_sent_bitrate_bps", "Audio and video payload sent to the participant over the last second.", "room", "participant"),
		partLoss:             d("participant_loss_ratio", "Fraction of packets to the participant reported lost in its TWCC feedback.", "room", "participant"),
		partKeyframeRequests: d("participant_keyframe_requests_total", "PLIs and FIRs the participant sent.", "room", "participant"),
		partKeyframesForced:  d("participant_keyframes_forced_total", "IDRs forced on the participant's encoder at its request (coalesced within the keyframe interval).", "room", "participant"),
		outputs:              d("outputs", "Recordings and live streams running."),
		outputDropped:        d("output_frames_dropped_total", "Frames a recording's or stream's writer did not take in time (a slow disk or network)."),
		webhooks:             d("webhooks_total", "Webhook deliveries: sent, retried (failed attempts tried again), failed (given up), dropped (queue full).", "result"),
		byRoute:              d("participants_by_route", "Connected WebRTC participants by how their media reaches the server: udp, tcp (ICE-TCP) or relay (TURN).", "route"),
		clusterHealthy:       d("cluster_redis_up", "1 when this node's last heartbeat reached Redis (with -redis)."),
		clusterLeases:        d("cluster_leases", "Room leases this node holds."),
		roomOwner:            d("room_owner", "1 for each room this node owns in its cluster.", "room", "node"),
		clusterClaims:        d("cluster_claims_total", "Room claims: won, lost (another node held the room), dead_taken (from a node whose record expired).", "result"),
		clusterLost:          d("cluster_leases_lost_total", "Leases another node took over (the room ended here)."),
		cascadeLinks:         d("cascade_links", "Links to other nodes for cascaded rooms, running now."),
		cascadeRTT:           d("cascade_link_rtt_seconds", "Round trip of a running cascade link (a packet's trip to the other node takes about half).", "room", "peer"),
		cascadeEvents:        d("cascade_links_total", "Cascade links dialed and accepted, refused (to other nodes: bad, unknown room, over -max-cascade-links) and failed (a dial that did not open).", "result"),
		cascadePackets:       d("cascade_packets_total", "RTP packets over cascade links: sent, received, dropped (full queue or buffer, unknown stream), pruned (video the other node shows nowhere, not sent).", "direction"),
		cascadeBytes:         d("cascade_bytes_total", "Media bytes over cascade links (RTP and a 5-byte header, without transport overheads).", "direction"),
		turnAllocs:           d("turn_allocations", "Relay allocations open on the embedded TURN server."),
		turnAllocsTotal:      d("turn_allocations_total", "Relay allocations created on the embedded TURN server."),
		turnConns:            d("turn_connections", "TCP and TLS client connections open on the embedded TURN server."),
		turnBytes:            d("turn_relayed_bytes_total", "Payload bytes the embedded TURN server relayed, to_peer (client to the MCU) and from_peer.", "direction"),
		turnRefused:          d("turn_refused_total", "What the embedded TURN server refused or dropped, by reason.", "reason"),
		chatMessages:         d("chat_messages_total", "Chat messages taken and relayed (from pages, viewers' pages and SIP MESSAGE)."),
		chatFiles:            d("chat_files", "Shared files kept now."),
		chatFileBytes:        d("chat_file_bytes", "Bytes of the shared files kept now."),
		chatRejected:         d("chat_rejected_total", "Chat messages and uploads refused, by reason.", "code"),
		chatDropped:          d("chat_dropped_total", "Chat messages a participant's connection could not take (full queue)."),
		latency:              d("mixer_latency_seconds", "Latency the mixer adds, from packet arrival to the first mixed packet sent that carries it.", "kind"),
		psnr:                 d("video_encode_psnr_db", "Luma PSNR of each encoded H.264 picture against the composed picture (what receivers decode when nothing is lost); 100 for a picture coded without error. Only with -measure-psnr."),
	}
}

// Describe sends every descriptor.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.rooms, c.participants, c.encoders, c.decoders, c.framesIn, c.framesOut,
		c.framesDropped, c.packetsLost, c.decodeErrors, c.plis, c.keyframe, c.writeErrors, c.latency, c.psnr, c.tierEncoders,
		c.decoded, c.notDecoded, c.decodersActive, c.shedLevel, c.framesShed, c.tickLate, c.audioUnderruns, c.audioTrimmed, c.audioAccel, c.encodeWait, c.receiversByTier, c.tierChanges, c.nacksFiltered, c.rtpPackets, c.sessions,
		c.roomParticipants, c.roomEncoders, c.roomTierEncoders, c.partTier, c.partEstimate, c.partSent, c.partLoss,
		c.partKeyframeRequests, c.partKeyframesForced, c.panics, c.refusals, c.outputs, c.outputDropped, c.webhooks,
		c.chatMessages, c.chatFiles, c.chatFileBytes, c.chatRejected, c.chatDropped,
		c.turnAllocs, c.turnAllocsTotal, c.turnConns, c.turnBytes, c.turnRefused, c.byRoute,
		c.clusterHealthy, c.clusterLeases, c.roomOwner, c.clusterClaims, c.clusterLost,
		c.cascadeLinks, c.cascadeRTT, c.cascadeEvents, c.cascadePackets, c.cascadeBytes} {
		ch <- d
	}
}

// Collect reads one snapshot of the stats and turns it into metrics.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.rooms, float64(s.Rooms))
	gauge(c.outputs, float64(s.Outputs))
	counter(c.outputDropped, s.OutputFramesDropped)
	if c.webhooksOf != nil {
		w := c.webhooksOf()
		for result, n := range map[string]uint64{"sent": w.Sent, "retried": w.Retried, "failed": w.Failed, "dropped": w.Dropped} {
			counter(c.webhooks, n, result)
		}
	}
	if c.clusterOf != nil {
		if cs, ok := c.clusterOf(); ok {
			up := 0.0
			if cs.Healthy {
				up = 1
			}
			gauge(c.clusterHealthy, up)
			gauge(c.clusterLeases, float64(cs.Leases))
			for _, room := range cs.Rooms {
				gauge(c.roomOwner, 1, room, cs.Node)
			}
			counter(c.clusterClaims, cs.ClaimsWon, "won")
			counter(c.clusterClaims, cs.ClaimsLost, "lost")
			counter(c.clusterClaims, cs.DeadTaken, "dead_taken")
			counter(c.clusterLost, cs.Lost)
			cc := cs.Cascade
			gauge(c.cascadeLinks, float64(len(cc.Links)))
			for _, l := range cc.Links {
				gauge(c.cascadeRTT, l.RTT.Seconds(), l.Room, l.Peer)
			}
			for result, n := range map[string]uint64{"dialed": cc.Dialed, "accepted": cc.Accepted, "refused": cc.Refused, "failed": cc.Failed} {
				counter(c.cascadeEvents, n, result)
			}
			counter(c.cascadePackets, cc.Totals.PacketsSent, "sent")
			counter(c.cascadePackets, cc.Totals.PacketsReceived, "received")
			counter(c.cascadePackets, cc.Totals.PacketsDropped, "dropped")
			counter(c.cascadePackets, cc.Totals.PacketsPruned, "pruned")
			counter(c.cascadeBytes, cc.Totals.BytesSent, "sent")
			counter(c.cascadeBytes, cc.Totals.BytesReceived, "received")
		}
	}
	for _, route := range []string{"udp", "tcp", "relay"} {
		gauge(c.byRoute, float64(s.ParticipantsByRoute[route]), route)
	}
	if c.turnOf != nil {
		if ts, ok := c.turnOf(); ok {
			gauge(c.turnAllocs, float64(ts.AllocationsActive))
			counter(c.turnAllocsTotal, ts.AllocationsTotal)
			gauge(c.turnConns, float64(ts.ConnsActive))
			counter(c.turnBytes, ts.BytesToPeers, "to_peer")
			counter(c.turnBytes, ts.BytesFromPeers, "from_peer")
			for reason, n := range map[string]uint64{"permission": ts.PermissionsRefused, "dropped_to_peer": ts.DroppedToPeer,
				"dropped_from_peer": ts.DroppedFromPeer, "auth_malformed": ts.AuthMalformed, "auth_expired": ts.AuthExpired,
				"auth_bad_password": ts.AuthBadPassword, "quota": ts.QuotaRefused, "conns": ts.ConnsRefused,
				"tcp_relay": ts.TCPRelayRefused, "allocate_failed": ts.AllocateFailed, "tls_handshake": ts.TLSHandshakeFailed} {
				counter(c.turnRefused, n, reason)
			}
		}
	}
	if c.chatOf != nil {
		cs := c.chatOf()
		counter(c.chatMessages, cs.Messages)
		gauge(c.chatFiles, float64(cs.Files))
		gauge(c.chatFileBytes, float64(cs.FileBytes))
		counter(c.chatDropped, cs.Dropped)
		for code, n := range cs.Rejected {
			counter(c.chatRejected, n, string(code))
		}
	}
	gauge(c.participants, float64(s.Participants))
	gauge(c.encoders, float64(s.AudioEncoders), "audio")
	gauge(c.encoders, float64(s.VideoEncoders), "video")
	gauge(c.decoders, float64(s.AudioDecoders), "audio")
	gauge(c.decoders, float64(s.VideoDecoders), "video")
	for tier, n := range s.VideoEncodersByTier {
		gauge(c.tierEncoders, float64(n), tier)
	}
	for tier, n := range s.ReceiversByTier {
		gauge(c.receiversByTier, float64(n), tier)
	}
	counter(c.tierChanges, s.TierChanges)
	counter(c.nacksFiltered, s.NACKsFiltered)
	if c.sessionsOf != nil {
		for kind, n := range c.sessionsOf() {
			gauge(c.sessions, float64(n), kind)
		}
	}
	for kind, n := range map[string]uint64{"received": s.RTPPacketsReceived, "dropped": s.RTPPacketsDropped, "sent": s.RTPPacketsSent,
		"unsent": s.RTPPacketsUnsent} {
		counter(c.rtpPackets, n, kind)
	}
	for _, r := range s.RoomDetails {
		gauge(c.roomParticipants, float64(r.Participants), r.Name)
		gauge(c.roomEncoders, float64(r.AudioEncoders), r.Name, "audio")
		gauge(c.roomEncoders, float64(r.VideoEncoders), r.Name, "video")
		for tier, n := range r.VideoEncodersByTier {
			gauge(c.roomTierEncoders, float64(n), r.Name, tier)
		}
	}
	for _, p := range s.ParticipantDetails {
		id, q := string(p.ID), p.Quality
		gauge(c.partTier, 1, p.Room, id, q.Tier, q.Limit)
		gauge(c.partEstimate, float64(q.EstimatedBitrate), p.Room, id)
		gauge(c.partSent, float64(q.SentBitrate), p.Room, id)
		gauge(c.partLoss, q.Loss, p.Room, id)
		counter(c.partKeyframeRequests, q.KeyframeRequests, p.Room, id)
		counter(c.partKeyframesForced, q.KeyframesForced, p.Room, id)
	}
	panics, refusals := maps.Clone(s.Panics), maps.Clone(s.Refusals)
	if panics == nil {
		panics = map[string]uint64{}
	}
	if c.edgeOf != nil {
		e := c.edgeOf()
		maps.Copy(panics, e.Panics)
		maps.Copy(refusals, e.Refusals)
	}
	for _, where := range []string{"room", "ingest", "rtcp", "bwe", "callback"} {
		if _, ok := panics[where]; !ok {
			panics[where] = 0 // every series from the first scrape
		}
	}
	for where, n := range panics {
		counter(c.panics, n, where)
	}
	for limit, n := range refusals {
		counter(c.refusals, n, limit)
	}
	counter(c.decoded, s.VideoFramesDecoded)
	counter(c.notDecoded, s.VideoFramesNotDecoded)
	gauge(c.decodersActive, float64(s.VideoDecodersActive))
	gauge(c.shedLevel, float64(s.VideoShedLevel))
	counter(c.framesShed, s.VideoFramesShed)
	counter(c.audioUnderruns, s.AudioInputUnderruns)
	ch <- prometheus.MustNewConstMetric(c.encodeWait, prometheus.CounterValue, s.VideoEncodeWait.Seconds())
	counter(c.audioTrimmed, s.AudioFramesTrimmed)
	ch <- prometheus.MustNewConstMetric(c.audioAccel, prometheus.CounterValue, float64(s.AudioSamplesAccelerated)/48000)
	counter(c.framesIn, s.VideoFramesIn)
	counter(c.framesOut, s.VideoFramesOut)
	counter(c.framesDropped, s.VideoFramesDropped)
	counter(c.packetsLost, s.AudioPacketsLost)
	counter(c.decodeErrors, s.DecodeErrors)
	counter(c.plis, s.PLIsSent)
	counter(c.keyframe, s.KeyframesForced)
	counter(c.writeErrors, s.WriteErrors)
	ch <- psnrHistogram(c.psnr, s.VideoPSNR)
	ch <- durationHistogram(c.latency, s.AudioLatency, "audio")
	ch <- durationHistogram(c.latency, s.VideoLatency, "video")
	ch <- durationHistogram(c.tickLate, s.AudioTickLate)
}

// durationHistogram is a latency histogram snapshot as a Prometheus histogram in seconds.
func durationHistogram(d *prometheus.Desc, h mcu.Histogram, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		cum += h.Counts[i]
		buckets[b.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum.Seconds(), buckets, labels...)
}

// psnrHistogram is the Prometheus histogram of h, whose bounds are in dB.
func psnrHistogram(d *prometheus.Desc, h mcu.PSNRHistogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		cum += h.Counts[i]
		buckets[b] = cum
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets)
}
