package main

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// fakeProfile encodes a CPU profile as the Go runtime writes it (sample types samples/count and
// cpu/nanoseconds, period 10ms), one sample per stack (leaf first) of the given number of 10 ms ticks.
// A stack's frame "0x..." is a location without function (C code without symbols) in libfoo.so. The
// first location of every stack holds its first two frames, as an inlined function and its caller.
type fakeStack struct {
	frames []string
	ticks  int64
}

func fakeProfile(stacks []fakeStack, gz bool) []byte {
	lib := &profile.Mapping{ID: 1, File: "/usr/lib/libfoo.so"}
	p := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType:    &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:        int64(10 * time.Millisecond),
		DurationNanos: int64(5 * time.Second),
		Mapping:       []*profile.Mapping{lib},
	}
	fns := map[string]*profile.Function{}
	fn := func(name string) *profile.Function {
		if f, ok := fns[name]; ok {
			return f
		}
		f := &profile.Function{ID: uint64(len(fns) + 1), Name: name}
		fns[name] = f
		p.Function = append(p.Function, f)
		return f
	}
	for _, s := range stacks {
		var locs []*profile.Location
		for j := 0; j < len(s.frames); j++ {
			loc := &profile.Location{ID: uint64(len(p.Location) + 1)}
			if strings.HasPrefix(s.frames[j], "0x") {
				loc.Mapping, loc.Address = lib, 0x1234
			} else {
				n := 1
				if j == 0 && len(s.frames) > 1 && !strings.HasPrefix(s.frames[1], "0x") {
					n = 2 // inlined
				}
				for _, f := range s.frames[j : j+n] {
					loc.Line = append(loc.Line, profile.Line{Function: fn(f)})
				}
				j += n - 1
			}
			p.Location = append(p.Location, loc)
			locs = append(locs, loc)
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: locs, Value: []int64{s.ticks, s.ticks * 10e6}})
	}
	var b bytes.Buffer
	var err error
	if gz {
		err = p.Write(&b)
	} else {
		err = p.WriteUncompressed(&b)
	}
	if err != nil {
		panic(err)
	}
	return b.Bytes()
}

// realStacks are stacks as a profile of the server shows them (4 participants at 640x360).
var realStacks = []fakeStack{
	{[]string{"runtime.cgocall", "github.com/gen2brain/x264-go/x264c._Cfunc_x264_encoder_encode",
		"github.com/gen2brain/x264-go/x264c.EncoderEncode", "github.com/openmcu/mcu/codec/h264.(*Encoder).Encode",
		"github.com/openmcu/mcu/mcu.(*outputEncoders).encode"}, 50},
	{[]string{"runtime.memmove", "github.com/openmcu/mcu/codec.copyPlane", "github.com/openmcu/mcu/codec.(*VideoFrame).CopyFrom",
		"github.com/openmcu/mcu/codec/h264.(*Encoder).Encode"}, 3},
	{[]string{"runtime.cgocall", "github.com/openmcu/mcu/codec/av._Cfunc_mcu_dec_decode",
		"github.com/openmcu/mcu/codec/av.(*VideoDecoder).Decode", "github.com/openmcu/mcu/mcu.(*Participant).readVideo.func5",
		"github.com/openmcu/mcu/mcu/internal/assembler.(*Assembler).emitOne"}, 7},
	{[]string{"runtime.memmove", "github.com/openmcu/mcu/codec.fillPlane", "github.com/openmcu/mcu/codec.(*VideoFrame).Fill",
		"github.com/openmcu/mcu/mixer.(*Compositor).draw"}, 2},
	{[]string{"runtime.cgocall", "github.com/openmcu/mcu/codec/scale._Cfunc_I420Scale", "github.com/openmcu/mcu/codec/scale.Scale",
		"github.com/openmcu/mcu/mixer.(*Compositor).tile.Fit.func3"}, 2},
	{[]string{"github.com/openmcu/mcu/mixer.blendText", "github.com/openmcu/mcu/mixer.drawLabel"}, 1},
	{[]string{"runtime.cgocall", "gopkg.in/hraban/opus%2ev2._Cfunc_opus_encode", "gopkg.in/hraban/opus%2ev2.(*Encoder).Encode",
		"github.com/openmcu/mcu/codec/opus.(*Encoder).Encode", "github.com/openmcu/mcu/mcu.audioListener.OnAudioTick",
		"github.com/openmcu/mcu/mixer.(*AudioMixer).mixOnce"}, 22},
	{[]string{"github.com/openmcu/mcu/mixer.(*AudioMixer).mixOnce", "github.com/openmcu/mcu/mixer.(*AudioMixer).Run"}, 1},
	{[]string{"internal/runtime/syscall/linux.Syscall6", "syscall.RawSyscall6", "syscall.Syscall6", "syscall.sendto",
		"internal/poll.(*FD).WriteToInet4", "net.(*netFD).writeToInet4", "github.com/pion/ice/v4.(*Conn).Write"}, 9},
	{[]string{"github.com/pion/srtp/v3.(*SessionSRTP).writeRTP", "github.com/pion/webrtc/v4.(*srtpWriterFuture).WriteRTP"}, 1},
	{[]string{"internal/runtime/syscall/linux.Syscall6", "internal/runtime/syscall/linux.EpollWait", "runtime.netpoll",
		"runtime.findRunnable", "runtime.schedule"}, 1},
	{[]string{"runtime.(*mspan).writeHeapBitsSmall", "runtime.mallocgc", "runtime.growslice",
		"github.com/pion/rtp/codecs.(*H264Payloader).Payload.func1"}, 1},
	{[]string{"runtime.lock2", "runtime.lock", "runtime.selectgo", "github.com/pion/webrtc/v4.(*RTPReceiver).readRTP"}, 1},
	{[]string{"runtime.gcDrain", "runtime.gcBgMarkWorker.func2", "runtime.systemstack", "runtime.gcBgMarkWorker"}, 2},
	{[]string{"0x1234", "runtime._ExternalCode"}, 1},
	{[]string{"github.com/openmcu/mcu/mcu.(*Participant).writeVideo", "github.com/openmcu/mcu/mcu.(*room).runOutput"}, 1},
}

func TestStageOfRealStacks(t *testing.T) {
	want := []string{stageEncode, stageEncode, stageDecode, stageCompose, stageCompose, stageCompose, stageAudio, stageAudio,
		stageNet, stageNet, stageNet, stageRuntime, stageRuntime, stageRuntime, stageOther, stageOther}
	for i, s := range realStacks {
		if got := stackStage(s.frames); got != want[i] {
			t.Errorf("stage of %q = %q, want %q", s.frames, got, want[i])
		}
	}
	for name, want := range map[string]string{
		"x264_8_macroblock_encode": stageEncode, "ff_h264_decode_mb_cabac": stageDecode, "?libavcodec.so.59+0x1f00": stageDecode,
		"opus_encode_float": stageAudio, "github.com/openmcu/mcu/codec/resample.(*Resampler).Process": stageAudio,
		"github.com/openmcu/mcu/codec/g722.(*Encoder).Encode": stageAudio, "crypto/aes.encryptBlockAsm": stageNet,
		"github.com/openmcu/mcu/mixer.(*Output).offer": stageCompose, "runtime.scanobject": stageRuntime,
		"net/http.(*conn).serve": "", "runtime.cgocall": "", "github.com/openmcu/mcu/codec.copyPlane": "",
	} {
		if got := frameStage(name); got != want {
			t.Errorf("frameStage(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestParseCPUProfile(t *testing.T) {
	for _, gz := range []bool{false, true} {
		p, err := parseCPUProfile(fakeProfile(realStacks, gz))
		if err != nil {
			t.Fatal(err)
		}
		if p.Duration != 5*time.Second || p.Period != 10*time.Millisecond || len(p.Samples) != len(realStacks) {
			t.Fatalf("profile: duration %v period %v, %d samples", p.Duration, p.Period, len(p.Samples))
		}
		for i, s := range p.Samples {
			want := realStacks[i]
			if strings.HasPrefix(want.frames[0], "0x") {
				want.frames = append([]string{"?libfoo.so+0x1234"}, want.frames[1:]...)
			}
			if strings.Join(s.Stack, ";") != strings.Join(want.frames, ";") || s.Count != want.ticks ||
				s.CPU != time.Duration(want.ticks)*10*time.Millisecond {
				t.Errorf("sample %d = %q %d %v, want %q %d", i, s.Stack, s.Count, s.CPU, want.frames, want.ticks)
			}
		}
		c := stagesOf(p, 0.5)
		shares := map[string]float64{}
		total := 0.0
		for _, s := range c.Stages {
			shares[s.Stage] = s.Share
			total += s.Share
			if math.Abs(s.Cores-0.5*s.Share) > 1e-12 {
				t.Errorf("%s: %v cores, want %v", s.Stage, s.Cores, 0.5*s.Share)
			}
		}
		// 105 ticks: encode 53, decode 7, compose 5, audio 23, network 11, runtime 4, other 2.
		for st, ticks := range map[string]float64{stageEncode: 53, stageDecode: 7, stageCompose: 5, stageAudio: 23,
			stageNet: 11, stageRuntime: 4, stageOther: 2} {
			if want := ticks / 105; math.Abs(shares[st]-want) > 1e-9 {
				t.Errorf("%s share = %.4f, want %.4f", st, shares[st], want)
			}
		}
		if math.Abs(total-1) > 1e-9 || c.Samples != 105 || c.CPU != 1050*time.Millisecond || len(c.Stages) != len(stageOrder) {
			t.Errorf("total share %v, %d samples, cpu %v, %d stages", total, c.Samples, c.CPU, len(c.Stages))
		}
	}
	if _, err := parseCPUProfile([]byte("not a profile")); err == nil {
		t.Error("parsed garbage")
	}
	if _, err := (profileResult{data: fakeProfile(nil, true)}).stages(1); err == nil {
		t.Error("an empty profile gave no error")
	}
}

func TestFetchProfile(t *testing.T) {
	data := fakeProfile(realStacks, true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/pprof/profile" || r.URL.Query().Get("seconds") != "3" {
			http.Error(w, "bad request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write(data)
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "cpu.pb.gz")
	b, err := fetchProfile(context.Background(), srv.URL+"/debug/pprof/profile", 3, path)
	if err != nil {
		t.Fatal(err)
	}
	if saved, _ := os.ReadFile(path); !bytes.Equal(b, data) || !bytes.Equal(saved, data) {
		t.Error("the profile was not returned and saved as served")
	}
	c, err := profileResult{path, b, nil}.stages(0.3)
	if err != nil || c.Profile != path || c.Share(stageEncode) < 0.5 {
		t.Errorf("stages = %+v, %v", c, err)
	}
	if _, err := fetchProfile(context.Background(), srv.URL+"/debug/pprof/profile", 4, ""); err == nil ||
		!strings.Contains(err.Error(), "400") {
		t.Errorf("a failing profiler gave %v", err)
	}
	if got := profileSeconds(8500*time.Millisecond, 10); got != 8 {
		t.Errorf("profileSeconds(8.5s, 10) = %d", got)
	}
	if profileSeconds(30*time.Second, 10) != 10 || profileSeconds(500*time.Millisecond, 10) != 0 || profileSeconds(time.Minute, 0) != 0 {
		t.Error("profileSeconds bounds")
	}
}

func TestWriteStageTable(t *testing.T) {
	rep := sampleReport()
	p, err := parseCPUProfile(fakeProfile(realStacks, false))
	if err != nil {
		t.Fatal(err)
	}
	rep.Runs[0].Stages = stagesOf(p, rep.Runs[0].ServerCores)
	rep.Runs[1].StagesError = "cpu profile: connection refused"
	var b strings.Builder
	if err := rep.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| N | profiled | sampled | decode video | compose | encode video | audio | RTP/SRTP/network | runtime | other |",
		// 1.05 s sampled of 0.52 cores × 5 s.
		"| 4 | 5s | 40% | 6.7 | 4.8 | 50.5 | 21.9 | 10.5 | 3.8 | 1.9 |",
		"| 9 | failed: cpu profile: connection refused | - | - | - | - | - | - | - | - |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Count(md, "| N | profiled |") != 1 {
		t.Error("a stage table for the tier without profiles")
	}
}

// TestMeasureProfiles runs a window with the profile on: the fake server's profiler answers with text
// that is no profile, so the run holds the failure, keeps the fetched file, and is measured all the same.
func TestMeasureProfiles(t *testing.T) {
	r := testRunner(t, &clockLoad{fps: 40, failAt: -1})
	r.window, r.profileMax = 1200*time.Millisecond, 10
	run := r.measure(context.Background(), Tier{640, 360, 30, 500_000}, 2)
	if run.Error != "" || !run.RealTime {
		t.Fatalf("measure: error %q, real time %v (%s)", run.Error, run.RealTime, run.NotRealTime)
	}
	if run.Stages != nil || !strings.Contains(run.StagesError, "profile") {
		t.Errorf("stages %+v, error %q; want the parse failure", run.Stages, run.StagesError)
	}
	if b, err := os.ReadFile(filepath.Join(r.logDir, "cpu-640x360-2.pb.gz")); err != nil || !strings.Contains(string(b), "profiles") {
		t.Errorf("fetched profile: %q, %v", b, err)
	}
}

func TestChartFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-out", "/tmp/x/bench.md"}, "/tmp/x/bench.svg"},
		{[]string{"-out", "bench"}, "bench.svg"},
		{[]string{"-out", "bench.svg"}, "bench.svg.svg"},
		{[]string{"-out", "bench.md", "-chart", "c.svg"}, "c.svg"},
		{[]string{"-json", "bench.json"}, ""},
	} {
		o, err := parseFlags(tt.args)
		if err != nil || o.chart != tt.want || o.profileMax != 10 {
			t.Errorf("parseFlags(%q): chart %q, profile %d, %v; want chart %q", tt.args, o.chart, o.profileMax, err, tt.want)
		}
	}
}
