package main

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The chart is hand-written SVG: per tier one row of two panels, the server's and ffmpeg's cores against
// N, and the mixer's audio and video latency p50 / p99 against N. The same report gives the same bytes.

const (
	chartPanelW = 440.0
	chartPanelH = 280.0
	chartTitleH = 36.0
	// Plot area inside a panel.
	chartLeft, chartRight, chartTop, chartBottom = 58.0, 14.0, 30.0, 42.0
)

// chartPoint is one value of a series at room size x; a NaN y is a gap (a run without that value).
type chartPoint struct {
	x, y   float64
	hollow bool // the run did not hold real time
	label  string
}

type chartSeries struct {
	name, colour string
	dashed       bool
	points       []chartPoint
}

type chartPanel struct {
	title, yLabel, unit string
	series              []chartSeries
}

// WriteChart writes the report's chart as SVG.
func (r *Report) WriteChart(w io.Writer) error {
	var rows [][2]chartPanel
	contents := r.contents()
	for _, t := range r.Tiers {
		for _, c := range contents {
			var runs []Run
			for _, run := range r.Runs {
				if run.Tier == t && run.ContentName() == c && run.Window > 0 {
					runs = append(runs, run)
				}
			}
			if len(runs) == 0 {
				continue
			}
			slices.SortStableFunc(runs, func(a, b Run) int { return cmp.Compare(a.N, b.N) })
			name := ""
			if len(contents) > 1 {
				name = c + " content"
			}
			rows = append(rows, tierPanels(t, runs, !r.Settings.SkipFFmpeg, name))
		}
	}
	width := 2 * chartPanelW
	height := chartTitleH + float64(max(len(rows), 1))*chartPanelH
	b := &strings.Builder{}
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" `+
		`font-family="sans-serif" font-size="11">`+"\n", num(width), num(height), num(width), num(height))
	fmt.Fprintf(b, `<rect width="%s" height="%s" fill="white"/>`+"\n", num(width), num(height))
	title := "MCU capacity"
	if !r.Started.IsZero() {
		title += " (" + r.Started.UTC().Format("2006-01-02 15:04 MST") + ")"
	}
	if r.Machine.CPUs > 0 {
		title += fmt.Sprintf(", %d × %s", r.Machine.CPUs, r.Machine.CPU)
	}
	fmt.Fprintf(b, `<text x="10" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", esc(title))
	if len(rows) == 0 {
		fmt.Fprintf(b, `<text x="10" y="%s">no measured runs</text>`+"\n", num(chartTitleH+20))
	}
	for i, row := range rows {
		y := chartTitleH + float64(i)*chartPanelH
		row[0].draw(b, 0, y)
		row[1].draw(b, chartPanelW, y)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// tierPanels builds the two panels of a tier from its measured runs, by N.
// A content, when given, ends the panels' titles.
func tierPanels(t Tier, runs []Run, ffmpeg bool, content string) [2]chartPanel {
	name := fmt.Sprintf("%dx%d@%d, %s", t.Width, t.Height, t.FrameRate, humanBitrate(t.Bitrate))
	if content != "" {
		name += ", " + content
	}
	server := chartSeries{name: "server", colour: "#1f77b4"}
	ff := chartSeries{name: "ffmpeg", colour: "#ff7f0e", dashed: true}
	lat := []chartSeries{
		{name: "audio p50", colour: "#2ca02c"}, {name: "audio p99", colour: "#2ca02c", dashed: true},
		{name: "video p50", colour: "#d62728"}, {name: "video p99", colour: "#d62728", dashed: true},
	}
	for _, run := range runs {
		x, hollow := float64(run.N), !run.RealTime
		server.points = append(server.points, chartPoint{x, run.ServerCores, hollow, "server"})
		fy := math.NaN()
		if run.Anchor != nil && run.Anchor.Cores > 0 {
			fy = run.Anchor.Cores
		}
		ff.points = append(ff.points, chartPoint{x, fy, false, "ffmpeg"})
		for i, l := range []Latency{run.AudioLatency, run.AudioLatency, run.VideoLatency, run.VideoLatency} {
			y := math.NaN()
			if l.Samples > 0 {
				y = ms(l.P50)
				if i%2 == 1 {
					y = ms(l.P99)
				}
			}
			lat[i].points = append(lat[i].points, chartPoint{x, y, hollow, lat[i].name})
		}
	}
	cores := chartPanel{title: "CPU cores, " + name, yLabel: "cores", unit: "cores", series: []chartSeries{server}}
	if ffmpeg || slices.ContainsFunc(ff.points, func(p chartPoint) bool { return !math.IsNaN(p.y) }) {
		cores.series = append(cores.series, ff)
	}
	return [2]chartPanel{cores, {title: "Mixer latency, " + name, yLabel: "ms", unit: "ms", series: lat}}
}

// draw writes the panel with its top left corner at (x0, y0).
func (p chartPanel) draw(b *strings.Builder, x0, y0 float64) {
	fmt.Fprintf(b, `<g transform="translate(%s,%s)">`+"\n", num(x0), num(y0))
	defer b.WriteString("</g>\n")
	fmt.Fprintf(b, `<text x="%s" y="18" font-size="12" font-weight="bold">%s</text>`+"\n", num(chartLeft), esc(p.title))
	pw, ph := chartPanelW-chartLeft-chartRight, chartPanelH-chartTop-chartBottom
	var xs []float64
	ymax := 0.0
	for _, s := range p.series {
		for _, pt := range s.points {
			xs = append(xs, pt.x)
			if !math.IsNaN(pt.y) {
				ymax = max(ymax, pt.y)
			}
		}
	}
	slices.Sort(xs)
	xs = slices.Compact(xs)
	if len(xs) == 0 {
		return
	}
	xlo, xhi := xs[0], xs[len(xs)-1]
	if xlo == xhi { // one room size: centre it
		xlo, xhi = xlo-1, xhi+1
	}
	ystep := niceStep(max(ymax, 1e-9) / 5)
	if ymax == 0 {
		ystep = 1
	}
	yhi := math.Ceil(ymax*1.05/ystep) * ystep
	yhi = max(yhi, ystep)
	px := func(x float64) float64 { return chartLeft + (x-xlo)/(xhi-xlo)*pw }
	py := func(y float64) float64 { return chartTop + ph - y/yhi*ph }

	// Grid, ticks and axes.
	fmt.Fprintf(b, `<g stroke="#ddd" stroke-width="1">`+"\n")
	decimals := max(0, int(-math.Floor(math.Log10(ystep)+1e-9)))
	var ylabels strings.Builder
	for i := 0; float64(i)*ystep <= yhi+ystep/1e6; i++ {
		v := float64(i) * ystep
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s"/>`+"\n", num(chartLeft), num(py(v)), num(chartLeft+pw), num(py(v)))
		fmt.Fprintf(&ylabels, `<text x="%s" y="%s" text-anchor="end">%s</text>`+"\n", num(chartLeft-6), num(py(v)+4),
			strconv.FormatFloat(v, 'f', decimals, 64))
	}
	b.WriteString("</g>\n")
	b.WriteString(ylabels.String())
	xticks := xs
	if len(xticks) > 12 {
		xticks = nil
		step := niceStep((xhi - xlo) / 8)
		for v := math.Ceil(xlo/step) * step; v <= xhi; v += step {
			xticks = append(xticks, v)
		}
	}
	for _, v := range xticks {
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="black"/>`+"\n", num(px(v)), num(chartTop+ph), num(px(v)), num(chartTop+ph+4))
		fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", num(px(v)), num(chartTop+ph+16),
			strconv.FormatFloat(v, 'f', -1, 64))
	}
	fmt.Fprintf(b, `<path d="M%s,%s V%s H%s" fill="none" stroke="black"/>`+"\n", num(chartLeft), num(chartTop), num(chartTop+ph), num(chartLeft+pw))
	fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle">N (participants)</text>`+"\n", num(chartLeft+pw/2), num(chartTop+ph+34))
	fmt.Fprintf(b, `<text transform="translate(14,%s) rotate(-90)" text-anchor="middle">%s</text>`+"\n", num(chartTop+ph/2), esc(p.yLabel))

	// Series: lines through the present points (a gap breaks them), then the points, filled when the run
	// held real time.
	for _, s := range p.series {
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6,4"`
		}
		var seg []string
		flush := func() {
			if len(seg) > 1 {
				fmt.Fprintf(b, `<polyline class="%s" points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n",
					class(s.name), strings.Join(seg, " "), s.colour, dash)
			}
			seg = seg[:0]
		}
		for _, pt := range s.points {
			if math.IsNaN(pt.y) {
				flush()
				continue
			}
			seg = append(seg, num(px(pt.x))+","+num(py(pt.y)))
		}
		flush()
		for _, pt := range s.points {
			if math.IsNaN(pt.y) {
				continue
			}
			fill := s.colour
			if pt.hollow {
				fill = "white"
			}
			fmt.Fprintf(b, `<circle class="%s" cx="%s" cy="%s" r="3.5" fill="%s" stroke="%s"><title>%s N=%s: %s %s</title></circle>`+"\n",
				class(s.name), num(px(pt.x)), num(py(pt.y)), fill, s.colour, esc(pt.label),
				strconv.FormatFloat(pt.x, 'f', -1, 64), strconv.FormatFloat(pt.y, 'f', 2, 64), esc(p.unit))
		}
	}

	// Legend, top left of the plot.
	lx, ly := chartLeft+10, chartTop+8
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="118" height="%s" fill="white" fill-opacity="0.85" stroke="#bbb"/>`+"\n",
		num(lx-4), num(ly-4), num(float64(len(p.series))*14+22))
	for i, s := range p.series {
		y := ly + 6 + float64(i)*14
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6,4"`
		}
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"%s/>`+"\n", num(lx), num(y), num(lx+24), num(y), s.colour, dash)
		fmt.Fprintf(b, `<text x="%s" y="%s">%s</text>`+"\n", num(lx+30), num(y+4), esc(s.name))
	}
	fmt.Fprintf(b, `<text x="%s" y="%s" font-size="9" fill="#555">hollow: not real time</text>`+"\n",
		num(lx), num(ly+6+float64(len(p.series))*14+2))
}

// niceStep rounds a tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*mag*(1+1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// num formats a coordinate: at most one decimal, no trailing zeros.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// class is a series' name as an SVG class: "audio p50" is audio-p50.
func class(name string) string { return esc(strings.ReplaceAll(name, " ", "-")) }

// esc escapes text for SVG.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
