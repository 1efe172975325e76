package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/pprof/profile"
)

// cpuProfile is a CPU profile reduced to its stacks and their CPU time.
type cpuProfile struct {
	Samples  []profSample
	Duration time.Duration // how long the profiler ran
	Period   time.Duration // CPU time one sample stands for
}

// profSample is one stack of a profile: its frames leaf first (an inlined function before the one it was
// inlined into) and the CPU time it took.
type profSample struct {
	Stack []string
	CPU   time.Duration
	Count int64
}

// parseCPUProfile reads a CPU profile (gzipped or not) with pprof's own parser and reduces it to its
// stacks: a location without symbols becomes "?FILE+0xADDRESS" (C code without debug information).
func parseCPUProfile(data []byte) (*cpuProfile, error) {
	pp, err := profile.ParseData(data)
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if len(pp.SampleType) == 0 {
		return nil, errors.New("profile: no sample types")
	}
	cpu, count := len(pp.SampleType)-1, -1
	for i, t := range pp.SampleType {
		switch t.Type {
		case "cpu":
			cpu = i
		case "samples":
			count = i
		}
	}
	p := &cpuProfile{Duration: time.Duration(pp.DurationNanos), Period: time.Duration(pp.Period)}
	for _, s := range pp.Sample {
		var ps profSample
		for _, loc := range s.Location {
			if len(loc.Line) == 0 {
				file := ""
				if loc.Mapping != nil {
					file = filepath.Base(loc.Mapping.File)
				}
				ps.Stack = append(ps.Stack, "?"+file+"+0x"+strconv.FormatUint(loc.Address, 16))
				continue
			}
			for _, ln := range loc.Line { // leaf (inlined) first
				name := ""
				if ln.Function != nil {
					name = ln.Function.Name
				}
				ps.Stack = append(ps.Stack, name)
			}
		}
		if cpu < len(s.Value) {
			ps.CPU = time.Duration(s.Value[cpu])
		}
		if count >= 0 && count < len(s.Value) {
			ps.Count = s.Value[count]
		} else if p.Period > 0 {
			ps.Count = int64(ps.CPU / p.Period)
		}
		p.Samples = append(p.Samples, ps)
	}
	return p, nil
}

// profileSeconds is how long to profile a window of length w: whole seconds (what /debug/pprof/profile
// takes), at most maxSeconds, 0 when the window is shorter than a second.
func profileSeconds(w time.Duration, maxSeconds int) int {
	return min(int(w/time.Second), maxSeconds)
}

// fetchProfile takes a CPU profile of seconds from the profiler at url (http://ADDR/debug/pprof/profile),
// keeps it in path (for go tool pprof) and returns it.
func fetchProfile(ctx context.Context, url string, seconds int, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"?seconds="+strconv.Itoa(seconds), nil)
	if err != nil {
		return nil, err
	}
	c := &http.Client{Timeout: time.Duration(seconds)*time.Second + 15*time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("cpu profile: %s: %s", resp.Status, truncate(string(bytes.TrimSpace(b)), 200))
	}
	if path != "" {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return nil, err
		}
	}
	return b, nil
}
