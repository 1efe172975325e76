package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: boom\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestA","Elapsed":0.1}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: baresip is not installed\n"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"--- SKIP: TestB (0.00s)\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Test":"TestC","Output":"==================\n"}`,
		`{"Action":"output","Package":"p","Test":"TestC","Output":"WARNING: DATA RACE\n"}`,
		`{"Action":"output","Package":"p","Test":"TestC","Output":"Write at 0x00c000 by goroutine 7:\n"}`,
		`{"Action":"output","Package":"p","Test":"TestC","Output":"==================\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestC"}`,
		`{"Action":"output","Package":"p","Output":"panic: in TestMain\n"}`,
		`{"Action":"fail","Package":"p","Elapsed":1.5}`,
		`{"Action":"pass","Package":"q","Elapsed":0.2}`,
		`# q/broken`,
	}, "\n")
	var out bytes.Buffer
	if code := summarize(strings.NewReader(in), &out); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	got := out.String()
	for _, want := range []string{"--- FAIL p TestA", "a_test.go:9: boom", "FAIL p 1.5s", "ok   q 0.2s",
		"SKIPPED (1)", "p TestB: b_test.go:3: baresip is not installed", "# q/broken",
		"DATA RACES (1):\n(in the output of p TestC)\nWARNING: DATA RACE\nWrite at 0x00c000 by goroutine 7:\n",
		"panic: in TestMain"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "--- FAIL p TestC") {
		t.Errorf("a passing test is listed:\n%s", got)
	}
	out.Reset()
	if code := summarize(strings.NewReader(`{"Action":"pass","Package":"q"}`), &out); code != 0 {
		t.Errorf("all passed: exit %d\n%s", code, out.String())
	}
	if code := summarize(strings.NewReader("go: no such module\n"), &out); code != 1 {
		t.Error("no package result: exit 0")
	}
}
