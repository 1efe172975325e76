package mcu

import (
	"reflect"
	"testing"
)

// TestStatsCounters: every counter has its Stats field, and a snapshot adds each counter to it.
func TestStatsCounters(t *testing.T) {
	var c counters
	ct, st := reflect.TypeFor[counters](), reflect.TypeFor[Stats]()
	n := 0
	for i := range ct.NumField() {
		f := ct.Field(i)
		if !f.IsExported() {
			continue
		}
		sf, ok := st.FieldByName(f.Name)
		if !ok {
			t.Errorf("counter %s has no Stats field", f.Name)
			continue
		}
		switch sf.Type.Kind() {
		case reflect.Uint64, reflect.Int:
		default:
			t.Errorf("Stats.%s is a %v, want a number", f.Name, sf.Type)
		}
		n++
	}
	c.VideoFramesIn.Add(3)
	c.AudioDecoders.Add(2)
	c.RTPPacketsSent.Add(5)
	c.refusals.Tracks.Add(7)
	s := Stats{RTPPacketsSent: 1} // a live participant's
	c.addTo(&s)
	if s.VideoFramesIn != 3 || s.AudioDecoders != 2 || s.RTPPacketsSent != 6 || s.Refusals["tracks"] != 7 ||
		len(s.Refusals) != 8 {
		t.Errorf("snapshot %+v", s)
	}
	if n < 15 {
		t.Errorf("%d counters found by name, want every one", n)
	}
}
