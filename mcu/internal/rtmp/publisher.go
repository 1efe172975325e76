package rtmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/openmcu/mcu/codec/h264"
)

// ErrClosed is returned by writes after Close, and by Err once Close ended the connection.
var ErrClosed = errors.New("rtmp: publisher closed")

// Stats counts what a Publisher sent and dropped.
type Stats struct {
	// BytesSent counts the bytes written to the connection, handshake included.
	BytesSent uint64
	// VideoDropped counts access units dropped before the first IDR with SPS and PPS; AudioDropped
	// counts audio access units dropped before the stream started (the first IDR, with video) or stamped
	// before its start.
	VideoDropped, AudioDropped int
}

// Publisher is one RTMP connection publishing one stream.
//
// Dial returns it connected and accepted by the server. WriteVideo and WriteAudio must be called from
// one goroutine (the one that owns the stream); Close, Done, Err and Stats are safe from any goroutine.
// Close ends the connection and waits for the Publisher's reading goroutine; it is idempotent.
type Publisher struct {
	cfg     Config
	target  target
	s       *session
	w       *gortmplib.Writer
	video   *gortmplib.Track
	audio   *gortmplib.Track
	timeout time.Duration

	started    bool          // the sequence headers are out: media flows
	base       time.Duration // the caller's time of the stream's time zero
	sps, pps   []byte        // the current AVC sequence header's
	pings      chan uint32   // ping requests the reader saw, to answer
	nals       [][]byte      // scratch for one access unit's NAL units
	lastVideo  time.Duration
	haveVideo  bool
	videoDrops atomic.Int64
	audioDrops atomic.Int64

	done     chan struct{}
	failOnce sync.Once
	err      error // set once, before done closes
	wg       sync.WaitGroup
}

// Dial connects to cfg.URL and publishes a stream there. ctx bounds the whole setup, as does
// cfg.ConnectTimeout. It starts the Publisher's reading goroutine, which Close stops.
func Dial(ctx context.Context, cfg Config, p Params) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t, _ := parseTarget(cfg.URL)
	ctx, cancel := context.WithTimeout(ctx, cfg.connectTimeout())
	defer cancel()
	s, err := dial(ctx, t, p.TLSConfig)
	if err != nil {
		return nil, err
	}
	pub := &Publisher{
		cfg: cfg, target: t, s: s, timeout: cfg.writeTimeout(),
		pings: make(chan uint32, 4), done: make(chan struct{}),
	}
	pub.w = &gortmplib.Writer{Conn: s}
	if cfg.Video {
		pub.video = &gortmplib.Track{Codec: &codecs.H264{}}
		pub.w.Tracks = append(pub.w.Tracks, pub.video)
	}
	if cfg.Audio {
		asc, _ := parseAudioConfig(cfg.AudioConfig)
		pub.audio = &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: asc}}
		pub.w.Tracks = append(pub.w.Tracks, pub.audio)
	}
	pub.wg.Add(1)
	go func() {
		defer pub.wg.Done()
		err := s.read(pub.pings)
		pub.fail(fmt.Errorf("rtmp: connection to %s lost: %w", t, err))
	}()
	return pub, nil
}

// WriteVideo sends one H.264 access unit in Annex-B form, decoded (and presented: no B-frames) at dts,
// which must increase. key marks an IDR picture. The stream starts at the first IDR that carries SPS and
// PPS: access units before it are dropped (counted in Stats), and its dts becomes the stream's time
// zero. A later IDR with other parameter sets sends a new sequence header first. An error means the
// connection is gone (or the Publisher closed): close it and dial again.
func (p *Publisher) WriteVideo(dts time.Duration, au []byte, key bool) error {
	if err := p.Err(); err != nil {
		return err
	}
	if p.video == nil {
		return errors.New("rtmp: write video to a stream without video")
	}
	var sps, pps []byte
	if key {
		sps, pps = h264.ParameterSets(au)
	}
	if !p.started {
		if sps == nil || pps == nil {
			p.videoDrops.Add(1)
			return nil
		}
		p.setParams(sps, pps)
		p.video.Codec = &codecs.H264{SPS: p.sps, PPS: p.pps}
		if err := p.start(dts); err != nil {
			return err
		}
	} else if sps != nil && pps != nil && (!bytes.Equal(sps, p.sps) || !bytes.Equal(pps, p.pps)) {
		p.setParams(sps, pps)
		if err := p.send(func() error { return p.s.Write(avcSequenceHeader(dts-p.base, p.sps, p.pps)) }); err != nil {
			return err
		}
	}
	if p.haveVideo && dts <= p.lastVideo {
		return fmt.Errorf("rtmp: video at %v after one at %v: timestamps must increase", dts, p.lastVideo)
	}
	p.lastVideo, p.haveVideo = dts, true
	p.nals = splitAU(p.nals[:0], au, p.sps, p.pps)
	if len(p.nals) == 0 {
		p.videoDrops.Add(1)
		return nil
	}
	return p.send(func() error { return p.w.WriteH264(p.video, dts-p.base, dts-p.base, p.nals) })
}

// WriteAudio sends one AAC access unit (without ADTS header) presented at pts, on the same clock as the
// video. Before the stream has started (with video: before its first IDR) and before the stream's time
// zero, access units are dropped and counted. An error means the connection is gone: close the
// Publisher and dial again.
func (p *Publisher) WriteAudio(pts time.Duration, au []byte) error {
	if err := p.Err(); err != nil {
		return err
	}
	if p.audio == nil {
		return errors.New("rtmp: write audio to a stream without audio")
	}
	if len(au) == 0 {
		return errors.New("rtmp: empty audio access unit")
	}
	if !p.started {
		if p.video != nil {
			p.audioDrops.Add(1)
			return nil
		}
		if err := p.start(pts); err != nil {
			return err
		}
	}
	if pts < p.base {
		p.audioDrops.Add(1)
		return nil
	}
	return p.send(func() error { return p.w.WriteMPEG4Audio(p.audio, pts-p.base, au) })
}

// start sends the metadata and the sequence headers, and makes at the stream's time zero.
func (p *Publisher) start(at time.Duration) error {
	if err := p.send(p.w.Initialize); err != nil {
		return err
	}
	p.started, p.base = true, at
	return nil
}

// setParams keeps copies of the parameter sets of the current sequence header.
func (p *Publisher) setParams(sps, pps []byte) {
	p.sps = append(p.sps[:0:0], sps...)
	p.pps = append(p.pps[:0:0], pps...)
}

// send answers pending pings and acknowledgements, then runs write, all under one write deadline. A
// failure ends the connection.
func (p *Publisher) send(write func() error) error {
	p.s.conn.SetWriteDeadline(time.Now().Add(p.timeout))
	err := p.control()
	if err == nil {
		err = write()
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = fmt.Errorf("no progress for %v: %w", p.timeout, err)
		}
		p.fail(fmt.Errorf("rtmp: write to %s: %w", p.target, err))
		return p.Err()
	}
	return nil
}

// control writes the answers the reading goroutine asked for.
func (p *Publisher) control() error {
	for {
		select {
		case t := <-p.pings:
			if err := p.s.Write(&message.UserControlPingResponse{ServerTime: t}); err != nil {
				return err
			}
		case n := <-p.s.acks:
			if err := p.s.Write(&message.Acknowledge{Value: n}); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// fail ends the connection with err, once: later calls keep the first error.
func (p *Publisher) fail(err error) {
	p.failOnce.Do(func() {
		p.err = err
		p.s.conn.Close()
		close(p.done)
	})
}

// Done is closed when the connection has ended: lost, failed or closed.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// Err returns why the connection ended (ErrClosed after Close), or nil while it is up.
func (p *Publisher) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Stats returns what the Publisher has sent and dropped so far.
func (p *Publisher) Stats() Stats {
	return Stats{BytesSent: p.s.BytesSent(), VideoDropped: int(p.videoDrops.Load()), AudioDropped: int(p.audioDrops.Load())}
}

// Close ends the connection, waits for the reading goroutine and returns nil. It does not wait for the
// server to take what was sent: RTMP has no such handshake. It is idempotent.
func (p *Publisher) Close() error {
	p.fail(ErrClosed)
	p.wg.Wait()
	return nil
}

// avcSequenceHeader is the RTMP message that gives a decoder new parameter sets, at dts.
func avcSequenceHeader(dts time.Duration, sps, pps []byte) message.Message {
	return &message.Video{
		ChunkStreamID:   message.VideoChunkStreamID,
		MessageStreamID: streamID,
		Codec:           message.CodecH264,
		IsKeyFrame:      true,
		Type:            message.VideoTypeConfig,
		AVCConfig:       avcConfig(sps, pps),
		DTS:             dts,
	}
}
