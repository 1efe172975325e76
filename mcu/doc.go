// Package mcu will hold rooms, participants, peer connections (pion/webrtc), RTP ingest and egress, RTCP and
// quality tiers: it turns decoded media from codec/ through mixer/ into one audio and one video stream per
// participant. Its API speaks Go method calls (Join, Leave, events), not wire formats.
package mcu
