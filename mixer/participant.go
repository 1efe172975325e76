package mixer

// ParticipantID names one participant of a room, as a source of media, a receiver of it, or both. The same
// ID is used by the audio mixer and the compositor.
type ParticipantID string
