package codec

// FadeConcealFrames is how many consecutive lost frames FadeConceal fades over before it is silence.
const FadeConcealFrames = len(concealGains)

// concealGains is the volume of the repeated last frame for each consecutive lost frame; after them,
// concealment is silence.
var concealGains = [...]float32{0.8, 0.55, 0.3, 0.1}

// FadeConceal is the packet-loss concealment of codecs without their own (G.711, G.722): it writes last,
// the last good frame, into dst at the volume of the lost-th consecutive concealed frame (counting from
// 0), ramping linearly from the previous frame's volume so there is no click. Four frames (80 ms) fade
// out, then concealment is silence. dst and last have the same length.
func FadeConceal(dst, last []int16, lost int) {
	gain := func(k int) float32 {
		switch {
		case k < 0:
			return 1
		case k < len(concealGains):
			return concealGains[k]
		}
		return 0
	}
	g0, g1 := gain(lost-1), gain(lost)
	for i, s := range last {
		g := g0 + (g1-g0)*float32(i+1)/float32(len(last))
		dst[i] = int16(float32(s) * g)
	}
}
