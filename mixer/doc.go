// Package mixer is the pure media logic of the MCU, on decoded frames only: the audio mixer (mix-minus
// with a soft limiter, shared mixes, active-speaker detection) and the video compositor (layouts, views,
// scaled-tile cache, name labels, shared screens presented to everyone but their owner, pins). Both run
// on an injectable Clock so tests are deterministic. It imports codec and its subpackages, never pion,
// mcu or signaling.
package mixer
