// SIP mode (-sip N): N concurrent SIP phone calls (audio only, PCMU) into one room, placed by sipp
// (Debian's sip-tester), each streaming a tone as plain RTP for the whole window. The benchmark starts the
// server with SIP on a free UDP port of 127.0.0.1 (no per-IP limits, no INVITE rate limit), starts one sipp
// process that places the N calls with a scenario it writes (INVITE, ACK the 200, rtp_stream the tone,
// pause past the window, BYE), waits until the server's API shows N SIP participants in the room and its
// /metrics show plain RTP flowing both ways, waits the warm-up, and measures over the window: the server's
// CPU (the same /proc accounting), sipp's CPU as "load", the plain-RTP packets in and out per second, and
// whether every call was up from the start of the window to its end.
//
// With -n M given as well (one size), the room also holds M synthetic video participants (the bots of
// the other modes, at the first tier): a mixed room, a few video participants and many phones.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/openmcu/mcu/cmd/internal/botload"
	"github.com/openmcu/mcu/cmd/internal/serverproc"
	"github.com/openmcu/mcu/codec/g711"
)

// sipRoom is the room every call and bot joins.
const sipRoom = "bench"

// sipAdminToken is the server's -admin-token in SIP mode, for GET /api/v1/rooms/{room}.
const sipAdminToken = "mcubench-admin-token-0123456789abcdef"

// Tone of the calls: 1 kHz (a whole number of periods in the file, so that it loops without a click) at
// -10 dBFS, 8 kHz G.711 mu-law, one second (50 packets of 20 ms).
const (
	toneHz      = 1000
	toneSeconds = 1
	toneRate    = 8000
	toneLevel   = 0.316 // -10 dBFS
)

// rtpPacketsPerSecond is what one PCMU call sends (and should receive) at 20 ms packets.
const rtpPacketsPerSecond = 50

// SIPRun is the measurement of N SIP calls (and, in a mixed room, M video participants). Plain data;
// the JSON output holds it.
type SIPRun struct {
	Calls int `json:"calls"`
	// Video is the number of synthetic video participants in the same room (0: phones only), at Tier.
	Video int   `json:"video_participants,omitempty"`
	Tier  *Tier `json:"tier,omitempty"`
	// Window is the measured time.
	Window time.Duration `json:"window_ns"`
	// ServerCores is the server's CPU over the window; PerCallPercent is 100 * ServerCores / Calls, in a
	// phones-only room (0 in a mixed room, where the video participants cost most of it).
	ServerCores    float64 `json:"server_cores"`
	PerCallPercent float64 `json:"percent_of_a_core_per_call,omitempty"`
	// SippCores is sipp's CPU (the calls' signalling and RTP), LoadCores the benchmark's own (the video
	// participants), OtherCores the rest of the machine.
	SippCores    float64 `json:"sipp_cores"`
	LoadCores    float64 `json:"load_cores"`
	OtherCores   float64 `json:"other_cores"`
	RSSBytes     int64   `json:"rss_bytes"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	// Plain-RTP packets per second over the window (the server's mcu_rtp_packets_total): received and
	// accepted, sent, dropped, and unsent.
	RTPInPerSec      float64 `json:"rtp_in_per_second"`
	RTPOutPerSec     float64 `json:"rtp_out_per_second"`
	RTPDroppedPerSec float64 `json:"rtp_dropped_per_second"`
	RTPUnsentPerSec  float64 `json:"rtp_unsent_per_second"`
	// Participants is the server's mcu_participants at the end of the window; SIPAtStart and SIPAtEnd the
	// SIP participants of the room in its API at both ends.
	Participants int `json:"participants"`
	SIPAtStart   int `json:"sip_participants_at_start"`
	SIPAtEnd     int `json:"sip_participants_at_end"`
	// AllUp: every call was in the room from the start of the window to its end, and RTP flowed both ways
	// at >= 90 % of 50 packets per second per call.
	AllUp        bool    `json:"all_calls_up"`
	AudioLatency Latency `json:"audio_latency"`
	// Down is what the video participants received (mixed room only).
	Down *Downstream `json:"downstream,omitempty"`
	// SippExit is how sipp ended: "ok" (every call completed, BYE answered), or its exit status.
	SippExit  string `json:"sipp_exit"`
	Error     string `json:"error,omitempty"`
	ServerLog string `json:"server_log"`
	SippLog   string `json:"sipp_log"`
}

// toneFile returns the raw payload sipp's rtp_stream plays: headerless 8 kHz mu-law (sipp sends the
// file's bytes as they are, 160 to a 20 ms PCMU packet), a 1 kHz tone, one second.
func toneFile() []byte {
	pcm := make([]int16, toneRate*toneSeconds)
	for i := range pcm {
		pcm[i] = int16(math.Round(toneLevel * 32767 * math.Sin(2*math.Pi*toneHz*float64(i)/toneRate)))
	}
	b := make([]byte, len(pcm))
	g711.MuLaw.Encode(b, pcm)
	return b
}

// sipScenario returns sipp's UAC scenario: INVITE with a PCMU offer on sipp's per-call RTP port, ACK the
// 200 OK (to its Contact, with its To tag), stream tone (a file path) in a loop as payload type 0, keep
// the call up for hold, then BYE.
func sipScenario(tone string, hold time.Duration) string {
	return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- Written by mcubench: one phone (PCMU) calling a room and streaming a tone. -->
<scenario name="mcubench phone">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "phone[call_number]" <sip:phone[call_number]@[local_ip]:[local_port]>;tag=[pid]mcubench[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:phone[call_number]@[local_ip]:[local_port]>
      Max-Forwards: 70
      User-Agent: mcubench-sipp
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=phone[call_number] 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=mcubench
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [rtpstream_audio_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=ptime:20
      a=sendrecv
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "phone[call_number]" <sip:phone[call_number]@[local_ip]:[local_port]>;tag=[pid]mcubench[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:phone[call_number]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop>
    <action>
      <exec rtp_stream="` + esc(tone) + `,-1,0"/>
    </action>
  </nop>
  <pause milliseconds="` + strconv.FormatInt(hold.Milliseconds(), 10) + `"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "phone[call_number]" <sip:phone[call_number]@[local_ip]:[local_port]>;tag=[pid]mcubench[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:phone[call_number]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
`
}

// sippArgs returns sipp's command line: n calls at once (-l n -m n), placed at up to n a second, from
// 127.0.0.1:localPort to the server's SIP port, media on 127.0.0.1, quitting by itself after timeout.
func sippArgs(scenario, target, room, errFile string, n, localPort int, timeout time.Duration) []string {
	return []string{
		target, "-sf", scenario, "-s", room,
		"-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", strconv.Itoa(localPort), "-t", "u1",
		"-m", strconv.Itoa(n), "-l", strconv.Itoa(n), "-r", strconv.Itoa(max(n, 1)), "-rp", "1000",
		"-nostdin", "-trace_err", "-error_file", errFile,
		"-timeout", strconv.Itoa(int(math.Ceil(timeout.Seconds()))) + "s", "-timeout_error",
	}
}

// freeUDPPort returns a port free for UDP and TCP on 127.0.0.1 (the server's SIP listens on both).
func freeUDPPort() (int, error) {
	for range 20 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		t, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		u.Close()
		if err != nil {
			continue
		}
		t.Close()
		return port, nil
	}
	return 0, errors.New("no port free for both UDP and TCP on 127.0.0.1")
}

// sipArgs are the server's flags of SIP mode, after runner.args: SIP on 127.0.0.1:port without per-IP
// limits, the admin API on, room for everyone.
func sipArgs(port, participants int) []string {
	return []string{
		"-sip-port", strconv.Itoa(port), "-sip-host", "127.0.0.1", "-sip-invite-rate", "0",
		"-sip-max-calls-per-ip", "0", "-sip-max-calls", "0", "-admin-token", sipAdminToken,
		"-max-participants", strconv.Itoa(max(participants, 25)),
	}
}

// roomSIPParticipants asks the server's API how many SIP participants room has.
func roomSIPParticipants(ctx context.Context, c *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+sipAdminToken)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return 0, nil // no room yet
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s: %s", url, resp.Status, truncate(strings.TrimSpace(b.String()), 200))
	}
	return countSIP(b.Bytes())
}

// countSIP counts the participants of kind "sip" in the API's room JSON.
func countSIP(room []byte) (int, error) {
	var r struct {
		Participants []struct {
			Kind string `json:"kind"`
		} `json:"participants"`
	}
	if err := json.Unmarshal(room, &r); err != nil {
		return 0, fmt.Errorf("room JSON: %w", err)
	}
	n := 0
	for _, p := range r.Participants {
		if p.Kind == "sip" {
			n++
		}
	}
	return n, nil
}

// sipp is a running sipp process.
type sipp struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // after done
	log  string
}

func startSipp(bin string, args []string, logPath string) (*sipp, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C reaches the benchmark, which stops sipp
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start sipp: %w", err)
	}
	s := &sipp{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		s.err = cmd.Wait()
		f.Close()
		close(s.done)
	}()
	return s, nil
}

// exited reports whether sipp has ended.
func (s *sipp) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// wait waits up to d for sipp to end by itself, then kills it; it returns how sipp ended.
func (s *sipp) wait(d time.Duration) string {
	var timeout <-chan time.Time // nil when sipp has ended: the select must not pick the timer by chance
	if !s.exited() {
		timeout = time.After(d)
	}
	select {
	case <-s.done:
	case <-timeout:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(3 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		return "killed after " + d.String()
	}
	if s.err == nil {
		return "ok"
	}
	var ee *exec.ExitError
	if errors.As(s.err, &ee) && ee.ExitCode() == 1 {
		return "exit 1 (some calls failed)"
	}
	return s.err.Error()
}

// sipSample is one end of the window.
type sipSample struct {
	sample
	sippCPU time.Duration
	sip     int
}

// measureSIP runs calls SIP calls (and video bots at tier) in one room and measures the server over the
// window. sippBin is the sipp binary. Failures are recorded in the result, never hidden.
func (r *runner) measureSIP(ctx context.Context, sippBin string, tier Tier, calls, video int) (run SIPRun) {
	run = SIPRun{Calls: calls, Video: video}
	if video > 0 {
		run.Tier = &tier
	}
	log := r.log.With("calls", calls, "video", video)
	name := fmt.Sprintf("sip-%d", calls)
	if video > 0 {
		name += fmt.Sprintf("-video-%d", video)
	}
	run.ServerLog = filepath.Join(r.logDir, "server-"+name+".log")
	run.SippLog = filepath.Join(r.logDir, "sipp-"+name+".log")
	fail := func(err error) SIPRun {
		run.Error = strings.ReplaceAll(err.Error(), "\n", "; ")
		return run
	}
	port, err := freeUDPPort()
	if err != nil {
		return fail(err)
	}
	args := append(r.args(tier, calls+video), sipArgs(port, calls+video)...)
	srv, err := serverproc.Start(ctx, serverproc.Options{Bin: r.server, Args: args, LogPath: run.ServerLog,
		Timeout: 10 * time.Second})
	if err != nil {
		return fail(err)
	}
	var parts []Participant
	var sp *sipp
	defer func() {
		closeAll(parts)
		if sp != nil && run.SippExit == "" {
			run.SippExit = sp.wait(0)
		}
		if err := srv.Stop(10 * time.Second); err != nil && run.Error == "" {
			run.Error = err.Error()
		}
	}()
	if video > 0 {
		if parts, err = r.join(ctx, srv, video, tier.FrameRate); err != nil {
			return fail(err)
		}
		if err := r.waitReceiving(ctx, srv, parts); err != nil {
			return fail(err)
		}
	}

	dir, err := os.MkdirTemp(r.logDir, "sipp-")
	if err != nil {
		return fail(err)
	}
	tone := filepath.Join(dir, "tone-1khz.ulaw")
	if err := os.WriteFile(tone, toneFile(), 0o644); err != nil {
		return fail(err)
	}
	setup := r.joinTimeout + time.Duration(calls)*100*time.Millisecond
	// Every call holds past the window by the margin: the window starts within setup of the first call,
	// and fill checks that every call is still up at its end.
	hold := setup + r.warmup + r.window + 5*time.Second
	scen := filepath.Join(dir, "uac-pcmu-tone.xml")
	if err := os.WriteFile(scen, []byte(sipScenario(tone, hold)), 0o644); err != nil {
		return fail(err)
	}
	localPort, err := freeUDPPort()
	if err != nil {
		return fail(err)
	}
	sargs := sippArgs(scen, fmt.Sprintf("127.0.0.1:%d", port), sipRoom, filepath.Join(dir, "errors.log"),
		calls, localPort, hold+setup+30*time.Second)
	log.Info("starting sipp", "args", strings.Join(sargs, " "))
	if sp, err = startSipp(sippBin, sargs, run.SippLog); err != nil {
		return fail(err)
	}
	roomURL := srv.URL("/api/v1/rooms/" + sipRoom)
	if err := r.waitCalls(ctx, srv, sp, roomURL, calls, setup); err != nil {
		return fail(err)
	}
	if err := sleep(ctx, srv, r.warmup); err != nil {
		return fail(err)
	}
	before, err := r.sampleSIP(ctx, srv, sp, parts, roomURL)
	if err != nil {
		return fail(err)
	}
	log.Info("measuring", "window", r.window)
	if err := sleep(ctx, srv, r.window); err != nil {
		return fail(err)
	}
	if sp.exited() { // before sampling: its CPU can no longer be read, which would hide why
		return fail(fmt.Errorf("sipp ended during the window (%s)", sp.wait(0)))
	}
	after, err := r.sampleSIP(ctx, srv, sp, parts, roomURL)
	if err != nil {
		return fail(err)
	}
	errs := []error{fillSIP(&run, before, after, tier.FrameRate)}
	if run.RSSBytes, run.PeakRSSBytes, err = procRSS(strconv.Itoa(srv.Pid())); err != nil {
		errs = append(errs, fmt.Errorf("server rss: %w", err))
	}
	// Let the calls end as the scenario says (BYE, 200), to learn whether every one completed.
	run.SippExit = sp.wait(hold + setup)
	if err := errors.Join(errs...); err != nil {
		run.Error = strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	return run
}

// waitCalls waits until room (its API URL) holds calls SIP participants and the server receives and
// sends plain RTP, or setup has passed.
func (r *runner) waitCalls(ctx context.Context, srv *serverproc.Proc, sp *sipp, roomURL string, calls int, setup time.Duration) error {
	deadline := time.Now().Add(setup)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var first Scrape
	haveFirst := false
	for {
		n, err := roomSIPParticipants(ctx, r.http, roomURL)
		if err != nil {
			return err
		}
		if n == calls {
			m, err := fetchMetrics(ctx, r.http, srv.URL("/metrics"))
			if err != nil {
				return err
			}
			if !haveFirst {
				first, haveFirst = m, true
			} else if m.RTPReceived > first.RTPReceived && m.RTPSent > first.RTPSent {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d SIP calls in the room after %v (see %s)", n, calls, setup, sp.log)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-srv.Done():
			return serverExited(srv)
		case <-sp.done:
			return fmt.Errorf("sipp ended before the calls were up: %v (see %s)", sp.err, sp.log)
		case <-tick.C:
		}
	}
}

func (r *runner) sampleSIP(ctx context.Context, srv *serverproc.Proc, sp *sipp, parts []Participant, roomURL string) (sipSample, error) {
	var s sipSample
	var err error
	if s.sample, err = r.sample(ctx, srv, parts); err != nil {
		return s, err
	}
	if s.sippCPU, err = procCPU(strconv.Itoa(sp.cmd.Process.Pid)); err != nil {
		return s, fmt.Errorf("sipp cpu: %w", err)
	}
	if s.sip, err = roomSIPParticipants(ctx, r.http, roomURL); err != nil {
		return s, err
	}
	return s, nil
}

// fillSIP computes the run's figures from the two ends of the window and says what was not right.
func fillSIP(run *SIPRun, before, after sipSample, frameRate int) error {
	el := after.at.Sub(before.at)
	if el <= 0 {
		return fmt.Errorf("window of %v", el)
	}
	sec := el.Seconds()
	run.Window = el
	run.ServerCores = (after.serverCPU - before.serverCPU).Seconds() / sec
	run.SippCores = (after.sippCPU - before.sippCPU).Seconds() / sec
	run.LoadCores = (after.selfCPU - before.selfCPU).Seconds() / sec
	run.OtherCores = max((after.busyCPU-before.busyCPU).Seconds()/sec-run.ServerCores-run.SippCores-run.LoadCores, 0)
	if run.Video == 0 && run.Calls > 0 {
		run.PerCallPercent = 100 * run.ServerCores / float64(run.Calls)
	}
	m0, m1 := before.metrics, after.metrics
	run.RTPInPerSec = (m1.RTPReceived - m0.RTPReceived) / sec
	run.RTPOutPerSec = (m1.RTPSent - m0.RTPSent) / sec
	run.RTPDroppedPerSec = (m1.RTPDropped - m0.RTPDropped) / sec
	run.RTPUnsentPerSec = (m1.RTPUnsent - m0.RTPUnsent) / sec
	run.Participants = int(m1.Participants)
	run.SIPAtStart, run.SIPAtEnd = before.sip, after.sip
	var errs []error
	if h, err := histogramDelta(m0.AudioLatency, m1.AudioLatency); err != nil {
		errs = append(errs, fmt.Errorf("audio latency: %w", err))
	} else {
		run.AudioLatency = latencyOf(h)
	}
	if len(after.recv) > 0 {
		d, err := aggregate(before.recv, after.recv, el, frameRate)
		if err != nil {
			errs = append(errs, err)
		}
		run.Down = &d
	}
	want := 0.9 * rtpPacketsPerSecond * float64(run.Calls)
	if run.SIPAtStart != run.Calls || run.SIPAtEnd != run.Calls {
		errs = append(errs, fmt.Errorf("SIP participants %d at the start, %d at the end, want %d", run.SIPAtStart, run.SIPAtEnd, run.Calls))
	}
	if run.RTPInPerSec < want {
		errs = append(errs, fmt.Errorf("RTP in %.0f/s, want >= %.0f", run.RTPInPerSec, want))
	}
	if run.RTPOutPerSec < want {
		errs = append(errs, fmt.Errorf("RTP out %.0f/s, want >= %.0f", run.RTPOutPerSec, want))
	}
	if run.Participants != run.Calls+run.Video {
		errs = append(errs, fmt.Errorf("server reports %d participants, want %d", run.Participants, run.Calls+run.Video))
	}
	run.AllUp = run.SIPAtStart == run.Calls && run.SIPAtEnd == run.Calls && run.RTPInPerSec >= want &&
		run.RTPOutPerSec >= want
	return errors.Join(errs...)
}

// writeSIPMarkdown writes the SIP runs.
func writeSIPMarkdown(b *strings.Builder, runs []SIPRun, s Settings) {
	fmt.Fprintf(b, "### SIP phones (audio only)\n\nEach row: the real server with N SIP calls from one sipp "+
		"(Debian's sip-tester) on loopback into one room, each offering only PCMU and streaming a 1 kHz tone "+
		"(50 packets/s) as plain RTP; the server sends each its mix-minus. Measured over %v after every call is "+
		"in the room and RTP flows both ways, plus %v. \"sipp cores\" is sipp's own CPU (the load); \"per call\" is "+
		"the server's cores / N in %% of a core (phones-only rooms). RTP is the server's plain-RTP packets per "+
		"second. All up: every call in the room (its API) at both ends of the window, and RTP in and out >= 90 %% "+
		"of 50/s per call.\n\n", s.Window, s.Warmup)
	b.WriteString("| calls | video participants | server cores | per call, % of a core | sipp cores | load cores | " +
		"other cores | RSS MiB | RTP in / out per s | RTP dropped / unsent per s | audio mix p50 / p99 ms | " +
		"video fps min | SIP participants start / end | all up | sipp |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range runs {
		video := "-"
		if r.Video > 0 {
			video = fmt.Sprintf("%d (%s)", r.Video, r.Tier.String())
		}
		up := "yes"
		if !r.AllUp {
			up = "**no**"
		}
		if r.Error != "" {
			up += ": " + cell(r.Error)
		}
		if r.Window == 0 {
			fmt.Fprintf(b, "| %d | %s | - | - | - | - | - | - | - | - | - | - | - | %s | %s |\n", r.Calls, video, up, cell(r.SippExit))
			continue
		}
		perCall, fps := "-", "-"
		if r.PerCallPercent > 0 {
			perCall = fmt.Sprintf("%.2f", r.PerCallPercent)
		}
		if r.Down != nil {
			fps = fmt.Sprintf("%.1f", r.Down.FPSMin)
		}
		fmt.Fprintf(b, "| %d | %s | %.3f | %s | %.3f | %.3f | %.2f | %.0f | %.0f / %.0f | %.1f / %.1f | %s | %s | %d / %d | %s | %s |\n",
			r.Calls, video, r.ServerCores, perCall, r.SippCores, r.LoadCores, r.OtherCores, float64(r.RSSBytes)/(1<<20),
			r.RTPInPerSec, r.RTPOutPerSec, r.RTPDroppedPerSec, r.RTPUnsentPerSec, pq(r.AudioLatency), fps,
			r.SIPAtStart, r.SIPAtEnd, up, cell(r.SippExit))
	}
}

// runSIP is -sip: one run of o.sip calls (with o.sipVideo video participants at tier), reported.
func runSIP(ctx context.Context, o options, tier Tier, log *slog.Logger) error {
	r := &runner{
		server: o.server, visibleTiles: o.visibleTiles, warmup: o.warmup, window: o.window,
		joinTimeout: o.joinTimeout, logDir: o.logDir, content: o.contents[0], log: log,
		http: &http.Client{Timeout: 5 * time.Second},
	}
	if o.sipVideo > 0 {
		botLog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		l, err := botload.New(botload.Config{Content: o.contents[0]}, botload.Params{Colour: participantColour, Logger: botLog})
		if err != nil {
			return err
		}
		r.load = botLoad{l}
	}
	rep := &Report{
		Started: time.Now(), Machine: describeMachine(""), Command: commandLine(os.Args[1:]), Tiers: []Tier{tier},
		Settings: Settings{Warmup: o.warmup, Window: o.window, SkipFFmpeg: true, SIPCalls: o.sip,
			Sipp: sippVersion(o.sipp)},
		Largest: map[string]int{},
	}
	log.Info("mcubench -sip", "logdir", o.logDir, "calls", o.sip, "video", o.sipVideo)
	res := r.measureSIP(ctx, o.sipp, tier, o.sip, o.sipVideo)
	log.Info("sip result", "calls", res.Calls, "video", res.Video, "server_cores", fmt.Sprintf("%.3f", res.ServerCores),
		"per_call_pct", fmt.Sprintf("%.2f", res.PerCallPercent), "sipp_cores", fmt.Sprintf("%.3f", res.SippCores),
		"rtp_in", fmt.Sprintf("%.0f", res.RTPInPerSec), "rtp_out", fmt.Sprintf("%.0f", res.RTPOutPerSec),
		"all_up", res.AllUp, "sipp", res.SippExit, "err", res.Error)
	rep.SIP = append(rep.SIP, res)
	if err := ctx.Err(); err != nil {
		log.Warn("interrupted: the report holds the runs done so far")
	}
	return writeReport(rep, o)
}

// sippVersion is sipp's version line ("SIPp v3.6.1-SCTP-PCAP-RTPSTREAM"), empty if it has none.
func sippVersion(bin string) string {
	out, _ := exec.Command(bin, "-v").CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "SIPp") {
			return strings.TrimSuffix(l, ".")
		}
	}
	return ""
}
