// Command testsum reads `go test -json` on stdin and prints what a person needs: one line per package
// (ok, FAIL, no test files), the whole output of every failed test and of every failed package, every data
// race report wherever test2json put it (a race found by a parallel test's goroutine is often attributed to
// another test, one that passed), and at the end the tests that were skipped, with their reason, so that a
// reader sees what did not run. It exits 1 when a test or a package
// failed, or when the input has no package result at all (go test could not start).
//
//	go test -json ./... | go run ./cmd/testsum
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// event is one line of `go test -json` (test2json's TestEvent).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

func main() {
	os.Exit(summarize(os.Stdin, os.Stdout))
}

// summarize reads the events from r, writes the summary to w and returns the exit code.
func summarize(r io.Reader, w io.Writer) int {
	type key struct{ pkg, test string }
	output := map[key][]string{} // the output of each test (and of each package, test "")
	var skipped, races []string
	var race []string // the lines of the race report being read, nil outside one
	failed, packages := 0, 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Fprintln(w, sc.Text()) // not JSON: a build error, say
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "build-output", "build-fail":
			fmt.Fprint(w, e.Output) // a package that does not compile
		case "output":
			output[k] = append(output[k], e.Output)
			switch line := strings.TrimSpace(e.Output); {
			case line == "WARNING: DATA RACE":
				race = []string{fmt.Sprintf("(in the output of %s %s)\n", e.Package, e.Test), e.Output}
			case race != nil && strings.HasPrefix(line, "=================="):
				races = append(races, strings.Join(race, ""))
				race = nil
			case race != nil:
				race = append(race, e.Output)
			}
		case "skip":
			if e.Test != "" {
				skipped = append(skipped, fmt.Sprintf("%s %s: %s", e.Package, e.Test, skipReason(output[k])))
			}
			delete(output, k)
		case "pass":
			if e.Test == "" {
				packages++
				fmt.Fprintf(w, "ok   %s %.1fs\n", e.Package, e.Elapsed)
			}
			delete(output, k)
		case "fail":
			failed++
			if e.Test == "" {
				packages++
				fmt.Fprintf(w, "FAIL %s %.1fs\n%s", e.Package, e.Elapsed, strings.Join(output[k], ""))
			} else {
				fmt.Fprintf(w, "--- FAIL %s %s\n%s", e.Package, e.Test, strings.Join(output[k], ""))
			}
			delete(output, k)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(w, "testsum:", err)
		return 1
	}
	if race != nil {
		races = append(races, strings.Join(race, "")) // cut short: the output ended inside it
	}
	if len(races) > 0 {
		fmt.Fprintf(w, "\nDATA RACES (%d):\n%s", len(races), strings.Join(races, "\n"))
	}
	if len(skipped) > 0 {
		slices.Sort(skipped)
		fmt.Fprintf(w, "\nSKIPPED (%d): these did not run\n", len(skipped))
		for _, s := range skipped {
			fmt.Fprintln(w, "  "+s)
		}
	}
	switch {
	case failed > 0:
		fmt.Fprintf(w, "\n%d failures\n", failed)
		return 1
	case packages == 0:
		fmt.Fprintln(w, "testsum: no package result: go test did not run")
		return 1
	}
	return 0
}

// skipReason is the message a test gave to Skip: the last line of its output before "--- SKIP", trimmed.
func skipReason(lines []string) string {
	var msgs []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		msgs = append(msgs, l)
	}
	if len(msgs) == 0 {
		return "(no reason given)"
	}
	return msgs[len(msgs)-1]
}
