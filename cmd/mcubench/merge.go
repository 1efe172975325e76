package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// mergeReports reads reports saved with -json and returns one in which the runs of each tier and
// content come from the last file that measured them: a tier measured again (after a run disturbed by
// something else on the machine) replaces the earlier runs of that tier and content, and everything else
// stays. Machine and settings are the first file's, with the contents of all; the command is the first
// file's with each later file's appended; Largest is worked out again from the merged runs.
func mergeReports(paths []string) (*Report, error) {
	var out *Report
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		var r Report
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("merge %s: %w", p, err)
		}
		if out == nil {
			out = &r
			out.Settings.Contents = out.contents()
			continue
		}
		measured := make(map[string]bool, len(r.Runs))
		var tiers []string
		for _, run := range r.Runs {
			measured[run.Tier.String()+" "+run.ContentName()] = true
			if !slices.Contains(tiers, run.Tier.String()) {
				tiers = append(tiers, run.Tier.String())
			}
		}
		out.Command += "; then, for " + strings.Join(tiers, ", ") + ": " + r.Command
		out.Runs = slices.DeleteFunc(out.Runs, func(x Run) bool { return measured[x.Tier.String()+" "+x.ContentName()] })
		out.Runs = append(out.Runs, r.Runs...)
		for _, t := range r.Tiers {
			if !slices.Contains(out.Tiers, t) {
				out.Tiers = append(out.Tiers, t)
			}
		}
		for _, c := range r.contents() {
			if !slices.Contains(out.Settings.Contents, c) {
				out.Settings.Contents = append(out.Settings.Contents, c)
			}
		}
	}
	if out == nil {
		return nil, fmt.Errorf("merge: no reports")
	}
	// Runs in the order of the tiers, each tier's in the order measured.
	order := make(map[Tier]int, len(out.Tiers))
	for i, t := range out.Tiers {
		order[t] = i
	}
	slices.SortStableFunc(out.Runs, func(a, b Run) int { return order[a.Tier] - order[b.Tier] })
	out.Largest = make(map[string]int)
	for _, t := range out.Tiers {
		for _, c := range out.contents() {
			out.Largest[out.largestKey(t, c)] = largestRealTime(out.Runs, t, c)
		}
	}
	return out, nil
}
