package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file reads a Go CPU profile (the gzipped profile.proto that /debug/pprof/profile serves) with
// protowire, which the module already has through the Prometheus client: the few fields the stage
// breakdown needs, not all of github.com/google/pprof/profile.

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

// profile.proto, the fields read here (github.com/google/pprof/proto/profile.proto).
const (
	fProfileSampleType = 1
	fProfileSample     = 2
	fProfileMapping    = 3
	fProfileLocation   = 4
	fProfileFunction   = 5
	fProfileStrings    = 6
	fProfileDuration   = 10
	fProfilePeriod     = 12

	fValueTypeType = 1

	fSampleLocation = 1
	fSampleValue    = 2

	fMappingID   = 1
	fMappingFile = 5

	fLocationID      = 1
	fLocationMapping = 2
	fLocationAddress = 3
	fLocationLine    = 4

	fLineFunction = 1

	fFunctionID   = 1
	fFunctionName = 2
)

// field is one field of a protobuf message as protowire reads it.
type field struct {
	num   protowire.Number
	typ   protowire.Type
	v     uint64 // varint and fixed values
	bytes []byte // length-delimited values
}

// fields splits a message into its fields.
func fields(b []byte) ([]field, error) {
	var out []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			f.v, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.v = uint64(v)
		case protowire.BytesType:
			f.bytes, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		out = append(out, f)
	}
	return out, nil
}

// uints returns the values of a repeated integer field, packed or not.
func (f field) uints() ([]uint64, error) {
	if f.typ == protowire.VarintType {
		return []uint64{f.v}, nil
	}
	if f.typ != protowire.BytesType {
		return nil, fmt.Errorf("field %d: wire type %d, want an integer", f.num, f.typ)
	}
	var out []uint64
	for b := f.bytes; len(b) > 0; {
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		out = append(out, v)
		b = b[n:]
	}
	return out, nil
}

// parseCPUProfile reads a CPU profile, gzipped or not. Its value is the one of sample type "cpu" (Go's
// profiles have "samples" and "cpu"), the last one when none is called so. A frame the profile could not
// name (C code without symbols) reads "?" followed by its mapping's file name.
func parseCPUProfile(data []byte) (*cpuProfile, error) {
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
	}
	top, err := fields(data)
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	type line struct{ fn uint64 }
	type location struct {
		mapping, address uint64
		fns              []uint64
	}
	var (
		strs      []string
		types     []uint64 // string index of each sample type
		samples   []field
		mappings  = map[uint64]uint64{} // id -> file name's string index
		locations = map[uint64]location{}
		functions = map[uint64]uint64{} // id -> name's string index
		p         = &cpuProfile{}
	)
	for _, f := range top {
		var err error
		switch f.num {
		case fProfileStrings:
			strs = append(strs, string(f.bytes))
		case fProfileSampleType:
			var vt []field
			if vt, err = fields(f.bytes); err == nil {
				t := uint64(0)
				for _, g := range vt {
					if g.num == fValueTypeType {
						t = g.v
					}
				}
				types = append(types, t)
			}
		case fProfileSample:
			samples = append(samples, f)
		case fProfileMapping:
			var m []field
			if m, err = fields(f.bytes); err == nil {
				var id, file uint64
				for _, g := range m {
					switch g.num {
					case fMappingID:
						id = g.v
					case fMappingFile:
						file = g.v
					}
				}
				mappings[id] = file
			}
		case fProfileLocation:
			var m []field
			if m, err = fields(f.bytes); err == nil {
				var id uint64
				var loc location
				for _, g := range m {
					switch g.num {
					case fLocationID:
						id = g.v
					case fLocationMapping:
						loc.mapping = g.v
					case fLocationAddress:
						loc.address = g.v
					case fLocationLine:
						var l []field
						if l, err = fields(g.bytes); err != nil {
							break
						}
						for _, h := range l {
							if h.num == fLineFunction {
								loc.fns = append(loc.fns, h.v)
							}
						}
					}
				}
				locations[id] = loc
			}
		case fProfileFunction:
			var m []field
			if m, err = fields(f.bytes); err == nil {
				var id, name uint64
				for _, g := range m {
					switch g.num {
					case fFunctionID:
						id = g.v
					case fFunctionName:
						name = g.v
					}
				}
				functions[id] = name
			}
		case fProfileDuration:
			p.Duration = time.Duration(f.v)
		case fProfilePeriod:
			p.Period = time.Duration(f.v)
		}
		if err != nil {
			return nil, fmt.Errorf("profile: field %d: %w", f.num, err)
		}
	}
	str := func(i uint64) string {
		if i < uint64(len(strs)) {
			return strs[i]
		}
		return ""
	}
	cpu, count := len(types)-1, -1
	for i, t := range types {
		switch str(t) {
		case "cpu":
			cpu = i
		case "samples":
			count = i
		}
	}
	if cpu < 0 {
		return nil, errors.New("profile: no sample types")
	}
	names := map[uint64][]string{} // location id -> its frames, leaf first
	frames := func(id uint64) []string {
		if n, ok := names[id]; ok {
			return n
		}
		loc := locations[id]
		var n []string
		for _, fn := range loc.fns {
			n = append(n, str(functions[fn]))
		}
		if len(n) == 0 {
			n = []string{"?" + filepath.Base(str(mappings[loc.mapping])) + "+0x" + strconv.FormatUint(loc.address, 16)}
		}
		names[id] = n
		return n
	}
	for _, f := range samples {
		m, err := fields(f.bytes)
		if err != nil {
			return nil, fmt.Errorf("profile: sample: %w", err)
		}
		var s profSample
		var values []uint64
		for _, g := range m {
			var v []uint64
			switch g.num {
			case fSampleLocation:
				if v, err = g.uints(); err == nil {
					for _, id := range v {
						s.Stack = append(s.Stack, frames(id)...)
					}
				}
			case fSampleValue:
				if v, err = g.uints(); err == nil {
					values = append(values, v...)
				}
			}
			if err != nil {
				return nil, fmt.Errorf("profile: sample: %w", err)
			}
		}
		if cpu < len(values) {
			s.CPU = time.Duration(int64(values[cpu]))
		}
		if count >= 0 && count < len(values) {
			s.Count = int64(values[count])
		} else if p.Period > 0 {
			s.Count = int64(s.CPU / p.Period)
		}
		p.Samples = append(p.Samples, s)
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
