module github.com/openmcu/mcu

go 1.26.8

require (
	github.com/coder/websocket v1.8.15
	github.com/gen2brain/x264-go/x264c v0.0.0-20221204084822-82ee2951dea2 // the x264c of github.com/gen2brain/x264-go v0.3.0
	github.com/pion/interceptor v0.1.51
	github.com/pion/logging v0.2.4
	github.com/pion/mediadevices v0.9.4 // the synthetic participant's media (signaling/bot/live, signaling/bot/device)
	github.com/pion/rtcp v1.2.20
	github.com/pion/rtp v1.10.6
	github.com/pion/sdp/v3 v3.0.20
	github.com/pion/webrtc/v4 v4.2.26
	github.com/prometheus/client_golang v1.25.0
	go.uber.org/goleak v1.3.0
	golang.org/x/image v0.47.0
	gonum.org/v1/gonum v0.17.0
	gopkg.in/hraban/opus.v2 v2.0.0-20230925203106-0188a62cb302
)

require (
	github.com/emiago/sipgo v1.7.2
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/google/pprof v0.0.0-20261105003125-4bf881d7fb0b
	github.com/icholy/digest v1.2.0
	github.com/prometheus/client_model v0.6.3
	github.com/prometheus/common v0.72.0
	golang.org/x/time v0.14.0
)

require (
	github.com/abema/go-mp4 v1.7.1 // AVC sequence headers (mcu/internal/rtmp)
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/blackjack/webcam v0.6.1 // indirect
	github.com/bluenviron/gortmplib v1.0.1 // RTMP(S) publishing (mcu/internal/rtmp)
	github.com/bluenviron/mediacommon/v2 v2.9.3 // fragmented MP4 (mcu/internal/fmp4); the version list is refused, v2.9.3 is served
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/gen2brain/malgo v0.11.24 // indirect
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/pool v0.2.1 // indirect
	github.com/gobwas/ws v1.3.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pion/datachannel v1.6.3 // indirect
	github.com/pion/dtls/v3 v3.1.15 // indirect
	github.com/pion/ice/v4 v4.4.8
	github.com/pion/mdns/v2 v2.2.2 // indirect
	github.com/pion/randutil v0.1.0 // indirect
	github.com/pion/sctp v1.12.0 // indirect
	github.com/pion/srtp/v3 v3.1.3 // indirect
	github.com/pion/stun/v4 v4.0.1 // STUN messages of the TURN fuzz test (signaling/turn)
	github.com/pion/transport/v5 v5.1.4 // indirect
	github.com/pion/turn/v5 v5.1.3 // the embedded TURN server (signaling/turn)
	github.com/prometheus/procfs v0.22.0 // indirect
	github.com/redis/go-redis/v9 v9.23.0 // the cluster registry and room leases (signaling/cluster)
	github.com/wlynxg/anet v0.0.5 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/crypto v0.57.0 // indirect
	golang.org/x/net v0.59.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
