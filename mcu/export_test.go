package mcu

// SetShedLevel makes the MCU act on a video shed level as if its governor had reached it (the tier floor
// of the levels past the compositor's) and waits until every participant's tier has been re-applied, for
// tests that cannot load the CPU on purpose. Run the MCU with Config.NoVideoShedding so that the
// governor itself does not move the level meanwhile, and with no participant being removed (the wait
// shares their wait group).
func (m *MCU) SetShedLevel(level int) {
	m.onShedLevel(level)
	m.wg.Wait()
}
