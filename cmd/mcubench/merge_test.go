package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestMergeReports: a tier measured again in a later report replaces that tier's runs; the other tier
// stays, the runs keep the tiers' order, and the command says what was merged.
func TestMergeReports(t *testing.T) {
	hd := Tier{Width: 1280, Height: 720, FrameRate: 30, Bitrate: 1_500_000}
	sd := Tier{Width: 640, Height: 360, FrameRate: 30, Bitrate: 500_000}
	dir := t.TempDir()
	save := func(name string, r Report) string {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := save("a.json", Report{Command: "full", Tiers: []Tier{hd, sd},
		Runs:    []Run{{Tier: hd, N: 2}, {Tier: hd, N: 4}, {Tier: sd, N: 2}, {Tier: sd, N: 9}},
		Largest: map[string]int{hd.String(): 4, sd.String(): 2}})
	again := save("b.json", Report{Command: "sd again", Tiers: []Tier{sd},
		Runs: []Run{{Tier: sd, N: 2}, {Tier: sd, N: 9}, {Tier: sd, N: 16}}, Largest: map[string]int{sd.String(): 16}})
	r, err := mergeReports([]string{first, again})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, run := range r.Runs {
		got = append(got, run.Tier.Canvas()+":"+string(rune('0'+run.N/10))+string(rune('0'+run.N%10)))
	}
	want := []string{"1280x720:02", "1280x720:04", "640x360:02", "640x360:09", "640x360:16"}
	if len(got) != len(want) {
		t.Fatalf("runs %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("runs %v, want %v", got, want)
		}
	}
	if r.Largest[hd.String()] != 4 || r.Largest[sd.String()] != 16 || len(r.Tiers) != 2 {
		t.Errorf("largest %v, tiers %v", r.Largest, r.Tiers)
	}
	if r.Command != "full; then, for "+sd.String()+": sd again" {
		t.Errorf("command %q", r.Command)
	}
	if _, err := mergeReports([]string{filepath.Join(dir, "missing.json")}); err == nil {
		t.Error("a missing file merged without an error")
	}
}
