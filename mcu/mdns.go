package mcu

import "strings"

// A client may name its host candidates by mDNS (.local) names instead of addresses: browsers do, to
// keep a page from learning the machine's addresses. The server does not resolve them: its ICE agents
// run without mDNS (see newAPI), and the client's checks to the server's candidates reach it anyway,
// from which it learns the client's address (a peer-reflexive candidate). So such candidates are
// dropped before pion sees them (it would log a warning for each).

// isMDNSCandidate reports whether an ICE candidate ("candidate:..." as trickled, or an "a=candidate:"
// line) gives a .local name as its address.
func isMDNSCandidate(c string) bool {
	f := strings.Fields(c)
	return len(f) >= 5 && strings.HasSuffix(strings.ToLower(f[4]), ".local")
}

// withoutMDNSCandidates returns the session description without its a=candidate lines that give .local
// names, and how many it dropped.
func withoutMDNSCandidates(desc string) (string, int) {
	if !strings.Contains(desc, ".local") {
		return desc, 0
	}
	var b strings.Builder
	b.Grow(len(desc))
	dropped := 0
	for rest := desc; rest != ""; {
		line, tail, found := strings.Cut(rest, "\n")
		if found {
			line += "\n"
		}
		rest = tail
		if strings.HasPrefix(line, "a=candidate:") && isMDNSCandidate(line) {
			dropped++
			continue
		}
		b.WriteString(line)
	}
	return b.String(), dropped
}
