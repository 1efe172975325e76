// Package fmp4 writes a room's recording as fragmented MP4: H.264 video and AAC audio, or AAC alone (an
// M4A file), on mediacommon's fMP4 boxes.
//
// The file is an init segment (ftyp, moov) followed by fragments (moof, mdat) of at most
// Config.FragmentDuration, each handed to the underlying writer whole, in one Write, and synced to disk
// when the writer is a file. A process killed at any moment therefore leaves a file that players and
// ffprobe read up to its last whole fragment: it loses at most the fragment being gathered. Nothing is
// kept in memory beyond that fragment, however long the recording.
//
// Time: the caller stamps video access units (decode time; there are no B-frames, so it is also the
// presentation time) and AAC access units (presentation time) on one clock. The file's time zero is the
// earliest sample of the first fragment, so audio priming (AAC access units stamped before the first video
// frame, see codec/aac) shifts both tracks alike and lip sync is kept without an edit list. Sample
// durations are the differences between consecutive timestamps in the track's timescale (90 kHz video,
// the audio sample rate), so rounding never accumulates.
package fmp4
