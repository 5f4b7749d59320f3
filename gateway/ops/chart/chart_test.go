package chart_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/gateway/ops/chart"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// shillings formats minor units as the back-office would (the caller's
// formatter): whole shillings with a thousands separator.
func shillings(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	s := fmt.Sprint(v / 100)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return sign + "KES " + s
}

func percent(bp int64) string { return fmt.Sprintf("%d.%02d%%", bp/100, bp%100) }

// days are 30 day labels ending on 7 December 2026.
func days(n int) []string {
	end := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	out := make([]string, n)
	for i := range out {
		out[i] = end.AddDate(0, 0, i-n+1).Format("2 Jan")
	}
	return out
}

// series makes n values from a formula, so the golden files are stable.
func series(name string, n int, f func(i int) int64) chart.Series {
	s := chart.Series{Name: name, Values: make([]int64, n)}
	for i := range s.Values {
		s.Values[i] = f(i)
	}
	return s
}

func TestCharts(t *testing.T) {
	tests := []struct {
		name string
		draw func(chart.Chart) (template.HTML, error)
		c    chart.Chart
	}{
		{"volume-by-kind", chart.Bars, chart.Chart{ID: "volume", Title: "Volume by kind, last 30 days", Labels: days(30), Format: shillings,
			Series: []chart.Series{
				series("send", 30, func(i int) int64 { return int64(1_000_000 + 35_000*i) }),
				series("deposit", 30, func(i int) int64 { return int64(600_000 + 20_000*(i%7)) }),
				series("withdraw", 30, func(i int) int64 { return int64(450_000 + 11_000*(i%5)) }),
				series("reversal", 30, func(i int) int64 {
					if i%9 == 4 {
						return -120_000
					}
					return 0
				}),
			}}},
		{"circulation", chart.Lines, chart.Chart{ID: "circulation", Title: "E-money in circulation", Desc: "At the end of each day; today's is now.",
			Labels: days(30), Format: shillings,
			Series: []chart.Series{series("circulation", 30, func(i int) int64 { return int64(50_000_000_00 + 7_500_000*i) })}}},
		{"failure-rates", chart.Lines, chart.Chart{Title: "SMS and webhook failures", Labels: days(7), Format: percent,
			Series: []chart.Series{
				series("SMS", 7, func(i int) int64 { return int64(120 + 15*i) }),
				series("webhooks", 7, func(i int) int64 { return int64(40 * (i % 3)) }),
			}}},
		{"one-day-nothing", chart.Bars, chart.Chart{Title: "Transfers today", Labels: []string{"7 Dec"},
			Series: []chart.Series{{Name: "send", Values: []int64{0}}}}},
		{"escaped", chart.Bars, chart.Chart{Title: `<script>alert("x")</script> & 'more'`, Labels: []string{`"day" <1>`, "day 2"},
			Series: []chart.Series{{Name: `<b onclick="x">`, Values: []int64{5, 7}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.draw(tt.c)
			if err != nil {
				t.Fatal(err)
			}
			checkMarkup(t, string(got))
			golden := filepath.Join("testdata", tt.name+".svg")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("got %s\nwant %s (run with -update if the change is intended)", got, want)
			}
		})
	}
}

// checkMarkup parses svg as XML and fails on anything a strict CSP would
// block or a page could be attacked through: a script or style element, a
// style or event-handler attribute, a javascript: or external reference.
// Every bar and dot must carry a <title>.
func checkMarkup(t *testing.T, svg string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	var stack []string
	titled := 0
	marks := 0
	sawTitle := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, svg)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			switch e.Name.Local {
			case "script", "style", "foreignObject", "a", "image", "use":
				t.Errorf("a <%s> element", e.Name.Local)
			case "title":
				if len(stack) == 1 {
					sawTitle = true
				}
				if len(stack) > 0 && (stack[len(stack)-1] == "rect" || stack[len(stack)-1] == "circle") {
					titled++
				}
			}
			for _, a := range e.Attr {
				n := strings.ToLower(a.Name.Local)
				if n == "style" || strings.HasPrefix(n, "on") || n == "href" {
					t.Errorf("attribute %s=%q on <%s>", a.Name.Local, a.Value, e.Name.Local)
				}
				if strings.Contains(strings.ToLower(a.Value), "javascript:") {
					t.Errorf("attribute %s=%q", a.Name.Local, a.Value)
				}
			}
			if (e.Name.Local == "rect" && hasClass(e, "bar")) || e.Name.Local == "circle" {
				marks++
			}
			stack = append(stack, e.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if !sawTitle {
		t.Error("no <title> for the chart")
	}
	if titled != marks {
		t.Errorf("%d bars and dots, %d with a <title>", marks, titled)
	}
}

func hasClass(e xml.StartElement, class string) bool {
	for _, a := range e.Attr {
		if a.Name.Local == "class" {
			for _, c := range strings.Fields(a.Value) {
				if c == class {
					return true
				}
			}
		}
	}
	return false
}

func TestChartRefuses(t *testing.T) {
	ok := chart.Chart{Title: "t", Labels: []string{"a", "b"}, Series: []chart.Series{{Name: "s", Values: []int64{1, 2}}}}
	tests := []struct {
		name string
		edit func(*chart.Chart)
	}{
		{"no categories", func(c *chart.Chart) { c.Labels = nil }},
		{"too many categories", func(c *chart.Chart) { c.Labels = make([]string, chart.CategoriesMax+1) }},
		{"no series", func(c *chart.Chart) { c.Series = nil }},
		{"too many series", func(c *chart.Chart) { c.Series = make([]chart.Series, chart.SeriesMax+1) }},
		{"values short of the categories", func(c *chart.Chart) { c.Series = []chart.Series{{Name: "s", Values: []int64{1}}} }},
		{"an id that is not a token", func(c *chart.Chart) { c.ID = `x" onload="y` }},
		{"a negative size", func(c *chart.Chart) { c.Width = -1 }},
		{"no room to plot", func(c *chart.Chart) { c.Width, c.Height = 50, 40 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			for _, draw := range []func(chart.Chart) (template.HTML, error){chart.Bars, chart.Lines} {
				if got, err := draw(c); !errors.Is(err, chart.ErrChart) || got != "" {
					t.Errorf("got %q, %v; want an ErrChart", got, err)
				}
			}
		})
	}
}

// TestChartExtremes draws values at the ends of int64 without a panic and
// as well-formed markup.
func TestChartExtremes(t *testing.T) {
	const big = 1<<63 - 1
	for _, vals := range [][]int64{{big, big}, {-big - 1, big}, {-5, -7}, {0, 0}} {
		c := chart.Chart{Title: "extremes", Labels: []string{"a", "b"}, Series: []chart.Series{{Name: "s", Values: vals}, {Name: "t", Values: vals}}}
		for _, draw := range []func(chart.Chart) (template.HTML, error){chart.Bars, chart.Lines} {
			got, err := draw(c)
			if err != nil {
				t.Fatalf("%v: %v", vals, err)
			}
			checkMarkup(t, string(got))
			if bytes.Contains([]byte(got), []byte("NaN")) || bytes.Contains([]byte(got), []byte("Inf")) {
				t.Errorf("%v: a coordinate is not a number: %s", vals, got)
			}
		}
	}
}

func TestCSSStylesEverySeriesClass(t *testing.T) {
	for i := range chart.SeriesClasses {
		if !strings.Contains(chart.CSS, fmt.Sprintf(".series-%d {", i)) {
			t.Errorf("chart.css does not style series-%d", i)
		}
	}
}
