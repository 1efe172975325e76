package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestMergeReports: a tier and content measured again in a later report replaces those runs only; the
// other tier and the other content stay, the runs keep the tiers' order, the contents are those of all
// files, the largest real-time N is worked out from the merged runs, and the command says what was merged.
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
	run := func(tier Tier, n int, content string, rt bool) Run {
		return Run{Tier: tier, N: n, Content: content, RealTime: rt}
	}
	first := save("a.json", Report{Command: "full", Tiers: []Tier{hd, sd},
		Settings: Settings{Contents: []string{"noise", "camera"}},
		Runs: []Run{run(hd, 2, "noise", true), run(hd, 4, "noise", true), run(sd, 2, "noise", true),
			run(sd, 9, "noise", false), run(sd, 2, "camera", true)}})
	again := save("b.json", Report{Command: "sd again", Tiers: []Tier{sd},
		Runs: []Run{run(sd, 2, "", true), run(sd, 9, "", true), run(sd, 16, "", true)}}) // noise, as recorded before contents
	r, err := mergeReports([]string{first, again})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, run := range r.Runs {
		got = append(got, fmt.Sprintf("%s:%02d:%s", run.Tier.Canvas(), run.N, run.ContentName()))
	}
	want := []string{"1280x720:02:noise", "1280x720:04:noise", "640x360:02:camera", "640x360:02:noise",
		"640x360:09:noise", "640x360:16:noise"}
	if !slices.Equal(got, want) {
		t.Errorf("runs %v, want %v", got, want)
	}
	if !slices.Equal(r.Settings.Contents, []string{"noise", "camera"}) || len(r.Tiers) != 2 {
		t.Errorf("contents %v, tiers %v", r.Settings.Contents, r.Tiers)
	}
	wantLargest := map[string]int{hd.String() + " noise": 4, hd.String() + " camera": 0,
		sd.String() + " noise": 16, sd.String() + " camera": 2}
	for k, n := range wantLargest {
		if r.Largest[k] != n {
			t.Errorf("largest %q = %d, want %d (all: %v)", k, r.Largest[k], n, r.Largest)
		}
	}
	if r.Command != "full; then, for "+sd.String()+": sd again" {
		t.Errorf("command %q", r.Command)
	}
	if _, err := mergeReports([]string{filepath.Join(dir, "missing.json")}); err == nil {
		t.Error("a missing file merged without an error")
	}
}
