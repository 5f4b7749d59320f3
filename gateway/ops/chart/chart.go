// Package chart draws the back-office's charts as SVG on the server: stacked
// bars (transfers by kind over days) and lines (e-money in circulation,
// failure rates). The functions are pure: data in, markup out.
//
// The markup is made for a strict Content-Security-Policy: no script, no
// style attribute or element; every colour and stroke comes from a class,
// styled by CSS (the stylesheet the page serves, see CSS). Text is escaped
// by html/template. Each chart is an img with a <title> (and a <desc>), and
// every bar and point has a <title> of its own, so a screen reader (or a
// mouse hovering) gets the figures the picture shows.
//
// It owns drawing and nothing else: it formats numbers only through the
// caller's Format (money in the currency's units, a rate in percent) and
// knows no wallet.
package chart

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"math"
	"strconv"
	"unicode/utf8"
)

// CSS is the stylesheet the charts' classes need: serve it as a file (a
// strict CSP allows style-src 'self', not inline styles). series-0 to
// series-N cycle through SeriesClasses colours.
//
//go:embed chart.css
var CSS string

// SeriesClasses is how many distinct series classes CSS styles; series
// beyond it reuse them in turn.
const SeriesClasses = 16

// Bounds on what one chart draws: beyond them a chart is unreadable, and
// the markup would grow without limit.
const (
	CategoriesMax = 400 // bars or points along the x axis
	SeriesMax     = 24
	labelBytesMax = 80 // a category's or series' label
	idBytesMax    = 40
)

// The default size, in SVG user units (the markup scales to its container).
const (
	DefaultWidth  = 720
	DefaultHeight = 260
)

// Series is one named row of values, one per category.
type Series struct {
	Name   string  // the legend's label, e.g. "send"
	Values []int64 // one per Chart.Labels entry
}

// Chart is what a bar or line chart shows.
type Chart struct {
	// ID, if set, prefixes the ids of the title and description (for
	// aria-labelledby); it must be unique on the page: letters, digits, -.
	ID     string
	Title  string   // the accessible name, e.g. "Transfers by kind, last 30 days"
	Desc   string   // optional longer description
	Labels []string // the categories along the x axis, e.g. days "12 Mar"
	Series []Series
	// Format writes a value for the axis and the titles (money in the
	// currency's units, a count, a rate); nil writes the integer.
	Format func(int64) string
	// LabelEvery shows every nth category label under the axis (all of
	// them are in the titles); 0 picks one that fits.
	LabelEvery    int
	Width, Height int // 0: DefaultWidth, DefaultHeight
}

// Bars returns c as stacked bars, the series stacked in order (negative
// values below the zero line).
func Bars(c Chart) (template.HTML, error) { return render(c, true) }

// Lines returns c as lines, one per series, with a dot for each value.
func Lines(c Chart) (template.HTML, error) { return render(c, false) }

// ErrChart is wrapped by the errors the chart functions return for data
// they cannot draw.
var ErrChart = errors.New("chart")

func check(c Chart) error {
	if len(c.Labels) == 0 || len(c.Labels) > CategoriesMax {
		return fmt.Errorf("%w: %d categories, want 1 to %d", ErrChart, len(c.Labels), CategoriesMax)
	}
	if len(c.Series) == 0 || len(c.Series) > SeriesMax {
		return fmt.Errorf("%w: %d series, want 1 to %d", ErrChart, len(c.Series), SeriesMax)
	}
	for _, s := range c.Series {
		if len(s.Values) != len(c.Labels) {
			return fmt.Errorf("%w: series %q has %d values for %d categories", ErrChart, clip(s.Name), len(s.Values), len(c.Labels))
		}
	}
	if len(c.ID) > idBytesMax {
		return fmt.Errorf("%w: the id is longer than %d bytes", ErrChart, idBytesMax)
	}
	for _, r := range c.ID {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("%w: the id %q holds more than letters, digits and -", ErrChart, clip(c.ID))
		}
	}
	if c.Width < 0 || c.Height < 0 || c.Width > 4*DefaultWidth || c.Height > 4*DefaultWidth {
		return fmt.Errorf("%w: a size of %d×%d", ErrChart, c.Width, c.Height)
	}
	return nil
}

func clip(s string) string {
	if len(s) > labelBytesMax {
		return s[:labelBytesMax] + "…"
	}
	return s
}

// The plot's margins: room for the value labels on the left, the legend
// on top and the category labels below.
const (
	marginLeftMin = 40
	charWidth     = 7 // an 11px label's characters, generously
	marginRight   = 12
	marginTop     = 34
	marginBottom  = 30
	legendStep    = 96 // the legend's spacing per series
	labelWidth    = 44 // what one category label needs, for LabelEvery
	ticksWanted   = 5
)

// The view the template draws: every coordinate computed here.
type view struct {
	ID, Title, Desc string
	Width, Height   int
	Bars            bool
	Plot            rect
	Right           string // the plot's right edge
	Ticks           []tick
	XLabels         []xLabel
	Legend          []legendItem
	Rects           []barRect
	Lines           []line
}

type rect struct{ X, Y, W, H string }

type tick struct {
	Y     string
	Label string
	Zero  bool
}

type xLabel struct {
	X, Y  string
	Label string
}

type legendItem struct {
	X, Y, TextX, TextY string
	Class, Name        string
}

type barRect struct {
	rect
	Class string
	Title string
}

type line struct {
	Class  string
	Points string
	Dots   []dot
}

type dot struct {
	X, Y  string
	Title string
}

func num(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

func seriesClass(i int) string { return "series series-" + strconv.Itoa(i%SeriesClasses) }

func render(c Chart, bars bool) (template.HTML, error) {
	if err := check(c); err != nil {
		return "", err
	}
	if c.Width == 0 {
		c.Width = DefaultWidth
	}
	if c.Height == 0 {
		c.Height = DefaultHeight
	}
	format := c.Format
	if format == nil {
		format = func(v int64) string { return strconv.FormatInt(v, 10) }
	}
	n := len(c.Labels)
	// The value range: stacked sums for bars, from zero; for lines, the
	// values' own range, so a slow change (circulation) shows.
	var lo, hi int64
	if !bars {
		lo, hi = c.Series[0].Values[0], c.Series[0].Values[0]
	}
	for j := range n {
		var pos, neg int64
		for _, s := range c.Series {
			v := s.Values[j]
			switch {
			case !bars:
				lo, hi = min(lo, v), max(hi, v)
			case v >= 0:
				pos = satAdd(pos, v)
			default:
				neg = satAdd(neg, v)
			}
		}
		if bars {
			lo, hi = min(lo, neg), max(hi, pos)
		}
	}
	step, lo, hi := niceScale(lo, hi)
	ticks := []tick{}
	widest := 0
	for t := lo; ; t += step {
		ticks = append(ticks, tick{Label: format(t), Zero: t == 0})
		widest = max(widest, utf8.RuneCountInString(ticks[len(ticks)-1].Label))
		if t >= hi || t > math.MaxInt64-step {
			break
		}
	}
	// Room for the widest value label at about charWidth a character.
	px, py := float64(max(marginLeftMin, charWidth*widest+10)), float64(marginTop)
	pw := float64(c.Width) - px - marginRight
	ph := float64(c.Height - marginTop - marginBottom)
	if pw < 1 || ph < 1 {
		return "", fmt.Errorf("%w: a size of %d×%d leaves no room to plot", ErrChart, c.Width, c.Height)
	}
	y := func(v int64) float64 { return py + ph*float64(hi-v)/float64(hi-lo) }
	v := view{ID: c.ID, Title: c.Title, Desc: c.Desc, Width: c.Width, Height: c.Height, Bars: bars,
		Plot: rect{num(px), num(py), num(pw), num(ph)}, Right: num(px + pw)}
	for i := range ticks {
		ticks[i].Y = num(y(lo + int64(i)*step))
	}
	v.Ticks = ticks
	band := pw / float64(n)
	every := c.LabelEvery
	if every <= 0 {
		every = max(1, int(math.Ceil(labelWidth/band)))
	}
	for j := 0; j < n; j += every {
		v.XLabels = append(v.XLabels, xLabel{X: num(px + band*(float64(j)+0.5)), Y: num(py + ph + 18), Label: c.Labels[j]})
	}
	for i, s := range c.Series {
		v.Legend = append(v.Legend, legendItem{X: num(px + float64(i%7)*legendStep), Y: num(8 + 14*float64(i/7)),
			TextX: num(px + float64(i%7)*legendStep + 14), TextY: num(17 + 14*float64(i/7)),
			Class: seriesClass(i), Name: s.Name})
	}
	if bars {
		bw := band * 0.72
		for j := range n {
			up, down := int64(0), int64(0)
			x := px + band*float64(j) + (band-bw)/2
			for i, s := range c.Series {
				val := s.Values[j]
				if val == 0 {
					continue
				}
				var top, bottom float64
				if val > 0 {
					next := satAdd(up, val)
					top, bottom = y(next), y(up)
					up = next
				} else {
					next := satAdd(down, val)
					top, bottom = y(down), y(next)
					down = next
				}
				v.Rects = append(v.Rects, barRect{rect: rect{num(x), num(top), num(bw), num(max(bottom-top, 0.5))},
					Class: seriesClass(i), Title: c.Labels[j] + ", " + s.Name + ": " + format(val)})
			}
		}
	} else {
		for i, s := range c.Series {
			l := line{Class: seriesClass(i)}
			var pts bytes.Buffer
			for j, val := range s.Values {
				x, yy := num(px+band*(float64(j)+0.5)), num(y(val))
				if j > 0 {
					pts.WriteByte(' ')
				}
				pts.WriteString(x + "," + yy)
				l.Dots = append(l.Dots, dot{X: x, Y: yy, Title: c.Labels[j] + ", " + s.Name + ": " + format(val)})
			}
			l.Points = pts.String()
			v.Lines = append(v.Lines, l)
		}
	}
	var b bytes.Buffer
	if err := svg.Execute(&b, v); err != nil {
		return "", fmt.Errorf("%w: %v", ErrChart, err)
	}
	// Safe: html/template escaped every value in it.
	return template.HTML(b.String()), nil
}

// satAdd adds without wrapping: a chart of absurd values is wrong, not a
// crash.
func satAdd(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

// niceScale returns a tick step of 1, 2 or 5 × 10^k and the range [lo, hi]
// widened to multiples of it, about ticksWanted ticks.
func niceScale(lo, hi int64) (step, nlo, nhi int64) {
	span := float64(hi) - float64(lo)
	if span <= 0 {
		return 1, lo, lo + 1
	}
	raw := span / ticksWanted
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = int64(mag)
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = int64(m * mag)
			break
		}
	}
	step = max(step, 1)
	nlo = lo / step * step
	if nlo > lo {
		nlo -= step
	}
	nhi = hi / step * step
	if nhi < hi && nhi <= math.MaxInt64-step {
		nhi += step
	}
	return step, nlo, nhi
}

var svg = template.Must(template.New("svg").Parse(`<svg xmlns="http://www.w3.org/2000/svg" class="chart {{if .Bars}}chart-bars{{else}}chart-lines{{end}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img"{{if .ID}} aria-labelledby="{{.ID}}-title{{if .Desc}} {{.ID}}-desc{{end}}"{{end}}>
<title{{if .ID}} id="{{.ID}}-title"{{end}}>{{.Title}}</title>
{{- if .Desc}}
<desc{{if .ID}} id="{{.ID}}-desc"{{end}}>{{.Desc}}</desc>
{{- end}}
<g class="legend">
{{- range .Legend}}
<rect class="swatch {{.Class}}" x="{{.X}}" y="{{.Y}}" width="10" height="10"/><text class="legend-label" x="{{.TextX}}" y="{{.TextY}}">{{.Name}}</text>
{{- end}}
</g>
<g class="axis axis-y">
{{- range .Ticks}}
<line class="grid{{if .Zero}} zero{{end}}" x1="{{$.Plot.X}}" x2="{{$.Right}}" y1="{{.Y}}" y2="{{.Y}}"/><text class="tick" x="{{$.Plot.X}}" y="{{.Y}}" dx="-6" dy="4" text-anchor="end">{{.Label}}</text>
{{- end}}
</g>
<g class="axis axis-x">
{{- range .XLabels}}
<text class="tick" x="{{.X}}" y="{{.Y}}" text-anchor="middle">{{.Label}}</text>
{{- end}}
</g>
<g class="plot">
{{- range .Rects}}
<rect class="bar {{.Class}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>
{{- end}}
{{- range .Lines}}
<polyline class="line {{.Class}}" points="{{.Points}}"/>
{{- $class := .Class}}
{{- range .Dots}}
<circle class="dot {{$class}}" cx="{{.X}}" cy="{{.Y}}" r="3"><title>{{.Title}}</title></circle>
{{- end}}
{{- end}}
</g>
</svg>
`))
