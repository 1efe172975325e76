package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

// mergeReports reads reports saved with -json and returns one with the runs of each tier taken from the
// last file that has that tier: a tier measured again (after a run disturbed by something else on the
// machine) replaces the earlier one, and the other tiers stay. Machine, command and settings are the
// first file's, with each later file's command appended; Largest is the merged files' own entries, per tier.
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
			if out.Largest == nil {
				out.Largest = map[string]int{}
			}
			continue
		}
		out.Command += "; then, for " + tierList(r.Tiers) + ": " + r.Command
		for _, t := range r.Tiers {
			key := t.String()
			out.Runs = slices.DeleteFunc(out.Runs, func(x Run) bool { return x.Tier.String() == key })
			if !slices.ContainsFunc(out.Tiers, func(x Tier) bool { return x.String() == key }) {
				out.Tiers = append(out.Tiers, t)
			}
			for k, n := range r.Largest {
				if k == key || len(k) > len(key) && k[:len(key)+1] == key+" " {
					out.Largest[k] = n
				}
			}
		}
		out.Runs = append(out.Runs, r.Runs...)
	}
	if out == nil {
		return nil, fmt.Errorf("merge: no reports")
	}
	// Runs in the order of the tiers, each tier's in the order measured.
	order := make(map[string]int, len(out.Tiers))
	for i, t := range out.Tiers {
		order[t.String()] = i
	}
	slices.SortStableFunc(out.Runs, func(a, b Run) int { return order[a.Tier.String()] - order[b.Tier.String()] })
	return out, nil
}

// tierList names tiers, comma separated.
func tierList(ts []Tier) string {
	var s string
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		s += t.String()
	}
	return s
}
