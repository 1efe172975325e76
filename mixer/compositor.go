package mixer

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmcu/mcu/codec"
	"github.com/openmcu/mcu/codec/scale"
)

// CompositorConfig is the serialisable configuration of a Compositor.
type CompositorConfig struct {
	// FrameRate is how many times per second the compositor draws (and the highest output frame rate).
	FrameRate int `json:"frame_rate"`
	// VisibleTiles is the largest number of tiles in one view (a presented screen counts as one). In
	// larger rooms the most recent active speakers are shown.
	VisibleTiles int `json:"visible_tiles"`
	// SpeakerHold is the least time a participant stays on stage (among the VisibleTiles shown to
	// everyone in a larger room) once there, so that tiles do not flicker when speakers alternate: a new
	// speaker takes the place of the least recently active participant whose hold is over, and waits
	// (ranked first, shown to those on stage) while every hold runs. 0 follows the speakers at once.
	SpeakerHold time.Duration `json:"speaker_hold"`
	// Letterbox shows whole pictures with bars instead of cropping them to fill their tiles.
	Letterbox bool `json:"letterbox"`
	// Labels draws each participant's name on their tile.
	Labels bool `json:"labels"`
}

// DefaultCompositorConfig returns 30 fps, up to 9 visible tiles held for at least 3 s, crop-to-fill and
// name labels.
func DefaultCompositorConfig() CompositorConfig {
	return CompositorConfig{FrameRate: 30, VisibleTiles: 9, SpeakerHold: 3 * time.Second, Labels: true}
}

// Validate reports the first unusable setting.
func (c CompositorConfig) Validate() error {
	if c.FrameRate < 1 || c.FrameRate > 60 {
		return fmt.Errorf("compositor frame rate %d: want 1..60", c.FrameRate)
	}
	if c.VisibleTiles < 1 || c.VisibleTiles > 49 {
		return fmt.Errorf("compositor visible tiles %d: want 1..49", c.VisibleTiles)
	}
	if c.SpeakerHold < 0 || c.SpeakerHold > time.Minute {
		return fmt.Errorf("compositor speaker hold %v: want 0..1m", c.SpeakerHold)
	}
	return nil
}

// CompositorParams holds a Compositor's runtime dependencies.
type CompositorParams struct {
	// Clock paces the tick loop; nil means SystemClock.
	Clock Clock
	// Logger receives lifecycle messages; nil means slog.Default().
	Logger *slog.Logger
	// Listener is told which outputs exist and which receivers each serves. It may be nil.
	Listener CompositorListener
}

// CompositorListener learns about the compositor's outputs. Its method is called from the compositor's
// goroutine with no lock held and must return quickly.
type CompositorListener interface {
	// OutputsChanged is called after any change of views with every current output and the receivers
	// it serves. Outputs missing from the list have been closed (their Done channel is closed).
	OutputsChanged(outputs []Assignment)
}

// Assignment is one output and the receivers that see it.
type Assignment struct {
	Output    *Output
	Receivers []ParticipantID
}

// ReceiverOptions describes what one receiver gets.
type ReceiverOptions struct {
	// Width and Height are the canvas size (even, at least 64x36).
	Width, Height int
	// FrameRate is the output frame rate; it is rounded to the compositor's rate divided by a whole number.
	FrameRate int
	// Layout arranges the tiles. While someone presents (see Compositor.AddScreen), every receiver but
	// the presenter gets the Presentation layout instead.
	Layout Layout
	// IncludeSelf shows the receiver's own picture among the tiles (by default it is left out).
	IncludeSelf bool
	// Pin, when it names a current source, shows that source large and the others in a strip, whatever
	// the Layout and whoever presents: a camera as the Speaker layout's main tile, a screen in the
	// Presentation layout. It is shown even if it is the receiver's own. A pin of a source that is not
	// there is ignored until the source is added.
	Pin ParticipantID
}

// OutputKey identifies one output: the tiles it shows, in order and layout, and its size and rate.
// Receivers with equal keys share the output and so one encoder.
type OutputKey struct {
	// View is the layout drawn and the tiles in order, separated by "|": "grid|a|b|c"; "speaker|a|b|c"
	// with the main tile (the top speaker, or the pinned camera) first; "presentation|s|a|b" with the
	// screen first and the strip after it.
	View          string
	Width, Height int
	FrameRate     int
}

// Output is one composed picture stream, shared by every receiver of the same view at the same size and
// rate. The consumer (an encoder) reads frames from Frames, and must Release each frame when done with
// it; the compositor never blocks on it: if the consumer has not taken the previous frame, that frame is
// dropped (released and counted). Done is closed when the output is no longer used.
// All methods are safe for concurrent use.
type Output struct {
	key     OutputKey
	tiles   []ParticipantID
	layout  Layout
	frames  chan *codec.VideoFrame
	done    chan struct{}
	dropped atomic.Uint64
	sent    atomic.Uint64
}

// Key returns the output's identity.
func (o *Output) Key() OutputKey { return o.key }

// Tiles returns the sources shown, in tile order (for the Presentation layout, the screen first). The
// slice must not be modified.
func (o *Output) Tiles() []ParticipantID { return o.tiles }

// Frames returns the channel composed pictures arrive on (capacity 1, newest wins).
func (o *Output) Frames() <-chan *codec.VideoFrame { return o.frames }

// Done is closed when the output has been removed.
func (o *Output) Done() <-chan struct{} { return o.done }

// Dropped is how many composed pictures the consumer never took.
func (o *Output) Dropped() uint64 { return o.dropped.Load() }

// Sent is how many composed pictures were offered to the consumer.
func (o *Output) Sent() uint64 { return o.sent.Load() }

func (o *Output) offer(f *codec.VideoFrame) {
	o.sent.Add(1)
	for {
		select {
		case o.frames <- f:
			return
		default:
		}
		select {
		case old := <-o.frames:
			old.Release()
			o.dropped.Add(1)
		default:
		}
	}
}

func (o *Output) close() {
	close(o.done)
	for {
		select {
		case f := <-o.frames:
			f.Release()
		default:
			return
		}
	}
}

// CompositorStats are counters since the compositor started.
type CompositorStats struct {
	Ticks         uint64 // draw ticks run
	Composed      uint64 // canvases drawn
	Scaled        uint64 // source pictures scaled into a tile size
	ScaleReused   uint64 // tiles served from the per-tick scaled-tile cache
	FramesIn      uint64 // source pictures pushed
	FramesSkipped uint64 // source pictures replaced before any tick drew them
	FramesShed    uint64 // canvases not drawn because of the shed level (SetShedLevel)
	Outputs       int    // outputs running now
}

type source struct {
	id      ParticipantID
	screen  bool          // a shared screen (AddScreen), not a camera
	owner   ParticipantID // whose screen it is
	name    string
	nameVer int
	joined  uint64
	pending *codec.VideoFrame // newest pushed picture, guarded by Compositor.mu
	clear   bool              // drop current at the next tick (ClearPicture), guarded by Compositor.mu
	current *codec.VideoFrame // picture being drawn, owned by the tick goroutine
	visible bool              // shown in at least one view (as of the last rebuild), guarded by Compositor.mu
	seq     uint64            // bumped when current changes, owned by the tick goroutine
	// picW x picH is a screen's picture size that its views are laid out for (0x0: none yet), owned by
	// the tick goroutine.
	picW, picH int
}

type receiver struct {
	id   ParticipantID
	opts ReceiverOptions
}

type tileKey struct {
	src  *source
	w, h int
}

type tileEntry struct {
	frame    *codec.VideoFrame
	seq      uint64 // source seq drawn; 0 = placeholder
	nameVer  int
	lastTick uint64
	area     scale.AreaScaler // scales a screen's pictures (keeping its tables between them)
}

// outputPlan is what the tick goroutine draws for one output.
type outputPlan struct {
	out       *Output
	every     int // draw on ticks divisible by this
	receivers int // how many receivers watch it: the more, the later it is shed
	sources   []*source
	rects     []image.Rectangle
	drawn     []uint64 // per tile, the source seq last drawn in this output
}

// Compositor draws every view of a room: for each output it places the latest picture of each visible
// source in its tile (scaled once per source and tile size per tick and shared by every view showing it),
// labels tiles with names, shows a placeholder for participants without video, and hands the canvas to
// the output's consumer. Sources are cameras (AddSource) and shared screens (AddScreen); the newest
// screen is presented to everyone but its owner. Methods are safe for concurrent use; drawing happens
// on the goroutine that calls Run.
type Compositor struct {
	cfg      CompositorConfig
	clock    Clock
	log      *slog.Logger
	listener CompositorListener
	pool     *codec.FramePool

	mu        sync.Mutex
	sources   map[ParticipantID]*source
	receivers map[ParticipantID]*receiver
	rank      []ParticipantID // most recent speakers first
	// staged are the sources on stage (at most VisibleTiles, shown to everyone not on stage) and when each
	// got there; nextStage is when a hold ends that a better-ranked source waits for (zero: none).
	staged    map[ParticipantID]time.Time
	nextStage time.Time
	joinSeq   uint64
	dirty     bool
	removed   []*source
	framesIn  uint64
	skipped   uint64

	// Owned by the tick goroutine.
	text    *textRenderer
	outputs map[OutputKey]*Output
	plans   []outputPlan
	tiles   map[tileKey]*tileEntry
	labels  map[labelKey]*image.Alpha
	tick    uint64
	stats   struct{ ticks, composed, scaled, reused, shed atomic.Uint64 }
	shed    atomic.Int32 // SetShedLevel
	nOut    atomic.Int64
	visible atomic.Pointer[map[ParticipantID]struct{}] // sources shown in some view, replaced by rebuilds
	closeMu sync.Mutex
	closed  bool
	stop    chan struct{}
	running sync.WaitGroup
}

type labelKey struct {
	name     string
	px, maxW int
}

// NewCompositor returns a compositor with no sources and no receivers. It starts no goroutine: call Run.
func NewCompositor(cfg CompositorConfig, p CompositorParams) (*Compositor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	text, err := newTextRenderer()
	if err != nil {
		return nil, err
	}
	if p.Clock == nil {
		p.Clock = SystemClock{}
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	return &Compositor{
		cfg: cfg, clock: p.Clock, log: p.Logger, listener: p.Listener,
		pool:      codec.NewFramePool(),
		sources:   make(map[ParticipantID]*source),
		receivers: make(map[ParticipantID]*receiver),
		staged:    make(map[ParticipantID]time.Time),
		text:      text,
		outputs:   make(map[OutputKey]*Output),
		tiles:     make(map[tileKey]*tileEntry),
		labels:    make(map[labelKey]*image.Alpha),
		stop:      make(chan struct{}),
	}, nil
}

// AddSource adds (or renames) a participant whose picture can appear in views. Until its first picture
// arrives it shows as a placeholder tile with its name.
func (c *Compositor) AddSource(id ParticipantID, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.sources[id]; ok {
		if s.name != name {
			s.name = name
			s.nameVer++
		}
		return
	}
	c.joinSeq++
	c.sources[id] = &source{id: id, name: name, joined: c.joinSeq}
	c.rank = append(c.rank, id)
	c.dirty = true
}

// AddScreen adds (or renames) a shared screen: source id, a second picture of participant owner (whose
// camera is source owner, if it has one). PushFrame, ClearPicture, Visible and RemoveSource work on it
// as on a camera. A screen is never a tile of the Grid or Speaker layouts. While at least one screen
// exists, the newest is the presentation: every receiver except its owner sees it in the Presentation
// layout, whatever layout it chose (unless it pins another source); the owner keeps its layout of the
// others, so it never sees its own screen. Removing the screen brings everyone back to their layout.
// Until its first picture the screen shows as a placeholder with its name. An id that is already a
// source only gets the new name: a camera does not become a screen, nor the reverse. Removing the
// owner's camera leaves its screens in place.
func (c *Compositor) AddScreen(id, owner ParticipantID, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.sources[id]; ok {
		if s.name != name {
			s.name = name
			s.nameVer++
		}
		return
	}
	c.joinSeq++
	c.sources[id] = &source{id: id, screen: true, owner: owner, name: name, joined: c.joinSeq}
	c.dirty = true
}

// RemoveSource removes a participant's camera or screen from every view.
func (c *Compositor) RemoveSource(id ParticipantID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sources[id]
	if !ok {
		return
	}
	delete(c.sources, id)
	c.rank = slices.DeleteFunc(c.rank, func(r ParticipantID) bool { return r == id })
	c.removed = append(c.removed, s)
	c.dirty = true
}

// PushFrame gives a source's newest picture. The picture is copied (into a pooled frame), so the caller
// keeps ownership of f. Pictures are never queued: a newer one replaces one not yet drawn.
func (c *Compositor) PushFrame(id ParticipantID, f *codec.VideoFrame) error {
	if f.Width < 2 || f.Height < 2 || f.Width > codec.MaxWidth || f.Height > codec.MaxHeight {
		return fmt.Errorf("push %dx%d picture: %w", f.Width, f.Height, codec.ErrFrameSize)
	}
	cp := c.pool.Get(f.Width&^1, f.Height&^1)
	if f.Width%2 != 0 || f.Height%2 != 0 {
		v := f.Sub(cp.Bounds())
		f = &v
	}
	if err := cp.CopyFrom(f); err != nil {
		cp.Release()
		return err
	}
	cp.Time = f.Time
	c.mu.Lock()
	s, ok := c.sources[id]
	var old *codec.VideoFrame
	if ok {
		old, s.pending = s.pending, cp
		c.framesIn++
		if old != nil {
			c.skipped++
		}
	}
	c.mu.Unlock()
	if !ok {
		cp.Release()
		return fmt.Errorf("push picture: unknown source %q", id)
	}
	old.Release()
	return nil
}

// ClearPicture goes back to the placeholder tile for a source (a camera turned off) until its next
// picture, keeping its place in every view.
func (c *Compositor) ClearPicture(id ParticipantID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.sources[id]; ok {
		s.pending.Release()
		s.pending = nil
		s.clear = true
	}
}

// AddReceiver adds (or updates) a participant who receives a composed picture.
func (c *Compositor) AddReceiver(id ParticipantID, opts ReceiverOptions) error {
	if opts.Width < 64 || opts.Height < 36 || opts.Width%2 != 0 || opts.Height%2 != 0 ||
		opts.Width > codec.MaxWidth || opts.Height > codec.MaxHeight {
		return fmt.Errorf("receiver %s canvas %dx%d: %w", id, opts.Width, opts.Height, codec.ErrFrameSize)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.receivers[id] = &receiver{id: id, opts: opts}
	c.dirty = true
	return nil
}

// RemoveReceiver stops composing for a participant.
func (c *Compositor) RemoveReceiver(id ParticipantID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.receivers[id]; ok {
		delete(c.receivers, id)
		c.dirty = true
	}
}

// SetSpeakers tells the compositor who is speaking, most relevant first (as the audio mixer's
// ActiveSpeakers gives them). They move to the front of the speaker ranking, which picks the visible
// tiles in rooms larger than VisibleTiles (subject to SpeakerHold) and the main tile of the Speaker layout.
func (c *Compositor) SetSpeakers(ids []ParticipantID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(ids) == 0 || (len(c.rank) >= len(ids) && slices.Equal(c.rank[:len(ids)], ids)) {
		return
	}
	rest := slices.DeleteFunc(slices.Clone(c.rank), func(r ParticipantID) bool { return slices.Contains(ids, r) })
	next := make([]ParticipantID, 0, len(c.rank))
	for _, id := range ids {
		if s, ok := c.sources[id]; ok && !s.screen {
			next = append(next, id)
		}
	}
	c.rank = append(next, rest...)
	c.dirty = true
}

// Visible reports whether id's picture is shown in at least one view, as of the last change of views.
// A source visible to nobody has its pictures dropped (PushFrame still succeeds), and it shows as a
// placeholder, never as a stale picture, when it becomes visible again until its next picture arrives:
// its producer may stop decoding while it is not visible, and ask for a keyframe when it is again.
// Cheap (an atomic load and a map lookup) and safe for concurrent use.
func (c *Compositor) Visible(id ParticipantID) bool {
	m := c.visible.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[id]
	return ok
}

// MaxShedLevel is the highest level SetShedLevel takes.
const MaxShedLevel = 4

// SetShedLevel sets how much drawing the compositor skips to leave CPU time to audio, from 0 (none) to
// MaxShedLevel; values outside are clamped. Each level divides the frame rate of outputs further (see
// ShedDivisor): level 1 halves the outputs that only one receiver watches, 2 halves every output, 3
// draws every third frame and 4 every sixth (5 fps at 30). Skipped canvases count in
// CompositorStats.FramesShed. Safe for concurrent use; it takes effect at the next tick.
func (c *Compositor) SetShedLevel(level int) {
	c.shed.Store(int32(min(max(level, 0), MaxShedLevel)))
}

// ShedDivisor returns by how much an output watched by receivers participants has its frame rate divided
// at a shed level (SetShedLevel): the least-shared views go first, then every view, further and further.
func ShedDivisor(level, receivers int) int {
	switch {
	case level <= 0:
		return 1
	case level == 1:
		if receivers <= 1 {
			return 2
		}
		return 1
	case level == 2:
		return 2
	case level == 3:
		return 3
	default:
		return 6
	}
}

// Stats returns the compositor's counters.
func (c *Compositor) Stats() CompositorStats {
	c.mu.Lock()
	in, skipped := c.framesIn, c.skipped
	c.mu.Unlock()
	return CompositorStats{
		Ticks: c.stats.ticks.Load(), Composed: c.stats.composed.Load(),
		Scaled: c.stats.scaled.Load(), ScaleReused: c.stats.reused.Load(),
		FramesIn: in, FramesSkipped: skipped, FramesShed: c.stats.shed.Load(), Outputs: int(c.nOut.Load()),
	}
}

// Run draws on every tick of the clock until ctx is cancelled or Close is called, then closes every
// output. Call it once.
func (c *Compositor) Run(ctx context.Context) error {
	c.closeMu.Lock()
	if c.closed {
		c.closeMu.Unlock()
		return errors.New("compositor closed")
	}
	c.running.Add(1)
	c.closeMu.Unlock()
	defer c.running.Done()
	t := c.clock.NewTicker(time.Second / time.Duration(c.cfg.FrameRate))
	defer t.Stop()
	defer c.shutdown()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.stop:
			return nil
		case now := <-t.C():
			c.composeOnce(now)
		}
	}
}

// Close stops Run and waits for it to return. It is idempotent.
func (c *Compositor) Close() error {
	c.closeMu.Lock()
	if !c.closed {
		c.closed = true
		close(c.stop)
	}
	c.closeMu.Unlock()
	c.running.Wait()
	return nil
}

func (c *Compositor) shutdown() {
	for k, o := range c.outputs {
		o.close()
		delete(c.outputs, k)
	}
	c.nOut.Store(0)
	for k, e := range c.tiles {
		e.frame.Release()
		delete(c.tiles, k)
	}
	c.mu.Lock()
	for _, s := range c.sources {
		s.pending.Release()
		s.pending = nil
		s.current.Release()
		s.current = nil
	}
	c.mu.Unlock()
}

// composeOnce runs one tick at time now: rebuild views if membership, speakers or a speaker hold
// changed, take the newest pictures of visible sources (dropping those of the others), draw every output
// due on this tick and hand the canvases over. Each canvas's Time is the arrival of the oldest picture it
// shows for the first time (see outputPlan.freshest).
func (c *Compositor) composeOnce(now time.Time) {
	c.tick++
	c.stats.ticks.Add(1)

	c.mu.Lock()
	if !c.nextStage.IsZero() && !now.Before(c.nextStage) {
		c.dirty = true
	}
	var changed []Assignment
	if c.dirty {
		c.dirty = false
		changed = c.rebuildLocked(now)
	}
	for _, s := range c.sources {
		if !s.visible {
			// Shown nowhere: keep no picture, so that the tile comes back as a placeholder rather than a
			// stale picture until the producer (which may have stopped decoding) sends a fresh one.
			s.pending.Release()
			s.pending = nil
			s.clear = false
			if s.current != nil {
				s.current.Release()
				s.current = nil
				s.seq++
			}
			continue
		}
		if s.clear && s.pending == nil {
			s.current.Release()
			s.current = nil
			s.seq++
		}
		s.clear = false
		if s.pending != nil {
			s.current.Release()
			s.current, s.pending = s.pending, nil
			s.seq++
			if s.screen && (s.picW == 0 || s.current.Width*s.picH != s.current.Height*s.picW) {
				// A screen of a new shape (a shared window resized): lay its views out again.
				s.picW, s.picH = s.current.Width, s.current.Height
				c.dirty = true
			}
		}
	}
	removed := c.removed
	c.removed = nil
	c.mu.Unlock()

	for _, s := range removed {
		s.current.Release()
		s.current = nil
		s.pending.Release()
		s.pending = nil
	}
	if changed != nil && c.listener != nil {
		c.listener.OutputsChanged(changed)
	}

	level := int(c.shed.Load())
	for i := range c.plans {
		p := &c.plans[i]
		if (c.tick-1)%uint64(p.every) != 0 {
			continue
		}
		// Outputs take turns (phase i), so that the encoders do not all run on the same ticks.
		if f := ShedDivisor(level, p.receivers); f > 1 && ((c.tick-1)/uint64(p.every)+uint64(i))%uint64(f) != 0 {
			c.stats.shed.Add(1)
			continue
		}
		canvas := c.pool.Get(p.out.key.Width, p.out.key.Height)
		c.draw(canvas, p)
		canvas.Time = p.freshest()
		p.out.offer(canvas)
		c.stats.composed.Add(1)
	}
	for k, e := range c.tiles {
		if e.lastTick+2 < c.tick {
			e.frame.Release()
			delete(c.tiles, k)
		}
	}
}

var background = codec.RGBToYUV(18, 20, 26)

func (c *Compositor) draw(canvas *codec.VideoFrame, p *outputPlan) {
	canvas.Fill(background)
	if len(p.sources) == 0 {
		px := max(canvas.Height/18, 10)
		m := c.label("Waiting for others to join…", px, canvas.Width*9/10)
		if m != nil {
			blendText(canvas, m, (canvas.Width-m.Rect.Dx())/2, (canvas.Height-m.Rect.Dy())/2)
		}
		return
	}
	for i, s := range p.sources {
		r := p.rects[i]
		tile := c.tile(s, r.Dx(), r.Dy())
		dst := canvas.Sub(r)
		_ = dst.CopyFrom(tile)
		if len(p.sources) > 1 && !s.screen {
			drawBorder(&dst, tileBorder, background)
		}
	}
}

// freshest returns the earliest arrival time among the source pictures this output shows for the first
// time (zero if it only repeats pictures it showed before), and marks them drawn. Sending time minus this
// is the latency the compositor and encoder added for the longest-waiting new picture.
func (p *outputPlan) freshest() time.Time {
	var t time.Time
	for i, s := range p.sources {
		if s.current == nil || p.drawn[i] == s.seq {
			continue
		}
		p.drawn[i] = s.seq
		if a := s.current.Time; !a.IsZero() && (t.IsZero() || a.Before(t)) {
			t = a
		}
	}
	return t
}

// drawBorder paints a border of width px along the inside edge of f.
func drawBorder(f *codec.VideoFrame, px int, c codec.YUV) {
	w, h := f.Width, f.Height
	for _, r := range []image.Rectangle{
		image.Rect(0, 0, w, px), image.Rect(0, h-px, w, h), image.Rect(0, 0, px, h), image.Rect(w-px, 0, w, h),
	} {
		edge := f.Sub(r)
		edge.Fill(c)
	}
}

// tile returns source s drawn at w x h (scaled picture with label, or placeholder), from the cache when
// this tick or an earlier one already drew it and nothing changed. A screen is letterboxed, never
// cropped, with an area-averaging filter that keeps small text legible, and has no label.
func (c *Compositor) tile(s *source, w, h int) *codec.VideoFrame {
	k := tileKey{s, w, h}
	e := c.tiles[k]
	if e == nil {
		e = &tileEntry{frame: c.pool.Get(w, h), seq: ^uint64(0)}
		c.tiles[k] = e
	}
	e.lastTick = c.tick
	c.mu.Lock()
	name, nameVer := s.name, s.nameVer
	c.mu.Unlock()
	if e.seq == s.seq && e.nameVer == nameVer {
		c.stats.reused.Add(1)
		return e.frame
	}
	e.seq, e.nameVer = s.seq, nameVer
	if s.current == nil {
		drawPlaceholder(e.frame, c.label(name, min(max(h/8, 11), 40), w*9/10))
		return e.frame
	}
	var err error
	switch {
	case s.screen:
		err = e.area.Fit(e.frame, s.current, scale.Letterbox, background)
	case c.cfg.Letterbox:
		err = scale.Fit(e.frame, s.current, scale.Letterbox, scale.Box, codec.Black)
	default:
		err = scale.Fit(e.frame, s.current, scale.Crop, scale.Box, codec.Black)
	}
	if err != nil {
		c.log.Warn("scale tile", "participant", s.id, "err", err)
		drawPlaceholder(e.frame, nil)
	}
	c.stats.scaled.Add(1)
	if c.cfg.Labels && !s.screen {
		drawLabel(e.frame, c.label(name, min(max(h/14, 11), 26), w*3/4))
	}
	return e.frame
}

func (c *Compositor) label(text string, px, maxW int) *image.Alpha {
	k := labelKey{text, px, maxW}
	if m, ok := c.labels[k]; ok {
		return m
	}
	if len(c.labels) > 256 {
		clear(c.labels)
	}
	m := c.text.render(text, px, maxW)
	c.labels[k] = m
	return m
}

// updateStageLocked brings the stage up to date at time now: sources that left are gone, free places go
// to the best-ranked sources off stage, and a source off stage ranked better than someone on stage takes
// the place of the worst-ranked (least recently active) one whose SpeakerHold is over. If a better-ranked
// source has to wait for a hold, nextStage is set to when the first such hold ends. Called with c.mu held;
// the work is bounded by sources x VisibleTiles per change.
func (c *Compositor) updateStageLocked(now time.Time) {
	for id := range c.staged {
		if _, ok := c.sources[id]; !ok {
			delete(c.staged, id)
		}
	}
	c.nextStage = time.Time{}
	pos := make(map[ParticipantID]int, len(c.rank))
	for i, id := range c.rank {
		pos[id] = i
	}
	for {
		cand, found := ParticipantID(""), false
		for _, id := range c.rank {
			if _, on := c.staged[id]; !on {
				cand, found = id, true
				break
			}
		}
		if !found {
			return
		}
		if len(c.staged) < c.cfg.VisibleTiles {
			c.staged[cand] = now
			continue
		}
		victim, worst := ParticipantID(""), -1
		var wait time.Time
		for id, since := range c.staged {
			if pos[id] < pos[cand] {
				continue // more recently active than the candidate: stays
			}
			if until := since.Add(c.cfg.SpeakerHold); now.Before(until) {
				if wait.IsZero() || until.Before(wait) {
					wait = until
				}
				continue
			}
			if pos[id] > worst {
				victim, worst = id, pos[id]
			}
		}
		if worst < 0 {
			c.nextStage = wait
			return
		}
		delete(c.staged, victim)
		c.staged[cand] = now
	}
}

// rebuildLocked updates the stage at time now, recomputes every receiver's view, creates and closes
// outputs, marks which sources are visible, and returns the new assignment. A receiver off stage sees
// the stage; one on stage sees the rest of the stage and the best-ranked source off stage (an understudy
// that is not held). Tiles keep join order. The newest screen, if any, is presented to every receiver
// but its owner, with the best-ranked cameras the strip holds; a pin overrides both. Called with c.mu
// held; it does no I/O and calls nobody.
func (c *Compositor) rebuildLocked(now time.Time) []Assignment {
	c.updateStageLocked(now)
	ordered := make([]*source, 0, len(c.sources)) // cameras in join order
	var presented *source                         // the newest screen
	for _, s := range c.sources {
		if !s.screen {
			ordered = append(ordered, s)
			continue
		}
		if s.pending != nil { // drawn from this tick on: lay its views out for its size
			s.picW, s.picH = s.pending.Width, s.pending.Height
		}
		if presented == nil || s.joined > presented.joined {
			presented = s
		}
	}
	slices.SortFunc(ordered, func(a, b *source) int { return int(a.joined) - int(b.joined) })
	rankOf := make(map[ParticipantID]int, len(c.rank))
	for i, id := range c.rank {
		rankOf[id] = i
	}
	limit := c.cfg.VisibleTiles
	shown := make(map[*source]bool, len(c.sources))

	byKey := make(map[OutputKey]*Assignment)
	plans := make(map[OutputKey]outputPlan)
	var keys []OutputKey
	recvIDs := make([]ParticipantID, 0, len(c.receivers))
	for id := range c.receivers {
		recvIDs = append(recvIDs, id)
	}
	slices.Sort(recvIDs)
	for _, rid := range recvIDs {
		r := c.receivers[rid]
		layout, tiles := c.viewLocked(r, ordered, presented, rankOf, limit)
		for _, s := range tiles {
			shown[s] = true
		}
		every := max(1, c.cfg.FrameRate/max(1, min(r.opts.FrameRate, c.cfg.FrameRate)))
		var view strings.Builder
		view.WriteString(layout.String())
		for _, s := range tiles {
			view.WriteByte('|')
			view.WriteString(string(s.id))
		}
		key := OutputKey{View: view.String(), Width: r.opts.Width, Height: r.opts.Height, FrameRate: c.cfg.FrameRate / every}
		a := byKey[key]
		if a == nil {
			out := c.outputs[key]
			if out == nil {
				ids := make([]ParticipantID, len(tiles))
				for i, s := range tiles {
					ids[i] = s.id
				}
				out = &Output{key: key, tiles: ids, layout: layout, frames: make(chan *codec.VideoFrame, 1), done: make(chan struct{})}
			}
			var rects []image.Rectangle
			if layout == Presentation {
				rects = PresentationRects(len(tiles)-1, key.Width, key.Height, tiles[0].picW, tiles[0].picH)
			} else {
				rects = layout.Rects(len(tiles), key.Width, key.Height)
			}
			a = &Assignment{Output: out}
			byKey[key] = a
			keys = append(keys, key)
			plans[key] = outputPlan{out: out, every: every, sources: tiles, rects: rects, drawn: make([]uint64, len(tiles))}
		}
		a.Receivers = append(a.Receivers, r.id)
		p := plans[key]
		p.receivers++
		plans[key] = p
	}
	for k, o := range c.outputs {
		if _, ok := byKey[k]; !ok {
			o.close()
			delete(c.outputs, k)
		}
	}
	c.plans = c.plans[:0]
	assign := make([]Assignment, 0, len(keys))
	for _, k := range keys {
		a := byKey[k]
		c.outputs[k] = a.Output
		c.plans = append(c.plans, plans[k])
		assign = append(assign, *a)
	}
	c.nOut.Store(int64(len(c.outputs)))
	vis := make(map[ParticipantID]struct{}, len(shown))
	for _, s := range c.sources {
		s.visible = shown[s]
		if s.visible {
			vis[s.id] = struct{}{}
		}
	}
	c.visible.Store(&vis)
	return assign
}

// viewLocked returns the layout receiver r sees and its tiles in order, given the cameras in join order,
// the presented screen (nil: none), the speaker ranking and the most tiles a view shows. The candidates
// are the cameras but the receiver's own (unless IncludeSelf), best first: the stage comes first, then
// whoever is ranked best off stage fills the places left (the receiver's own). Called with c.mu held.
func (c *Compositor) viewLocked(r *receiver, ordered []*source, presented *source, rankOf map[ParticipantID]int, limit int) (Layout, []*source) {
	cands := make([]*source, 0, len(ordered))
	for _, s := range ordered {
		if s.id != r.id || r.opts.IncludeSelf {
			cands = append(cands, s)
		}
	}
	byRank := slices.Clone(cands)
	slices.SortStableFunc(byRank, func(a, b *source) int {
		_, aOn := c.staged[a.id]
		_, bOn := c.staged[b.id]
		if aOn != bOn {
			if aOn {
				return -1
			}
			return 1
		}
		return rankOf[a.id] - rankOf[b.id]
	})
	// best returns the k best candidates other than skip, in join order so that tiles do not jump around.
	best := func(k int, skip *source) []*source {
		pick := make(map[*source]bool, k)
		for _, s := range byRank {
			if len(pick) == k {
				break
			}
			if s != skip {
				pick[s] = true
			}
		}
		return slices.DeleteFunc(slices.Clone(cands), func(s *source) bool { return !pick[s] })
	}

	// The source shown large: the pin if it is there, else the presentation unless it is r's own.
	var main *source
	if pinned, ok := c.sources[r.opts.Pin]; ok && r.opts.Pin != "" {
		main = pinned
	} else if presented != nil && presented.owner != r.id {
		main = presented
	}
	switch {
	case main != nil && main.screen: // the screen counts as one of the limit's tiles
		k := min(limit-1, PresentationStripLen(r.opts.Width, r.opts.Height, main.picW, main.picH))
		return Presentation, append([]*source{main}, best(k, nil)...)
	case main != nil: // a pinned camera
		return Speaker, append([]*source{main}, best(limit-1, main)...)
	}
	tiles := best(limit, nil)
	if r.opts.Layout == Speaker {
		if len(tiles) > 0 {
			// The top speaker first.
			top := slices.MinFunc(tiles, func(a, b *source) int { return rankOf[a.id] - rankOf[b.id] })
			tiles = slices.DeleteFunc(tiles, func(s *source) bool { return s == top })
			tiles = append([]*source{top}, tiles...)
		}
		return Speaker, tiles
	}
	return Grid, tiles
}
