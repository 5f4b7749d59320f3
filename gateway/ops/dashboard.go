package ops

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// The dashboard's charts are SVG drawn here, on the server: bars computed
// in Go, placed by the template; no script, no chart library.

const (
	chartWidth  = 720
	chartHeight = 180
	chartPad    = 24 // room for the axis labels
)

// bar is one bar of a chart, in SVG user units.
type bar struct {
	X, Y, W, H float64
	Label      string // under the bar (a day, a kind)
	Title      string // its value, shown on hover
}

// chart is a bar chart: its bars and the largest value, named.
type chart struct {
	ID            string
	Width, Height int
	Bars          []bar
	Max           string
}

// barChart charts values (one per label) scaled to the largest.
func barChart(id string, labels []string, values []int64, format func(int64) string) chart {
	c := chart{ID: id, Width: chartWidth, Height: chartHeight + chartPad}
	most := int64(0)
	for _, v := range values {
		most = max(most, v)
	}
	c.Max = format(most)
	if len(values) == 0 {
		return c
	}
	slot := float64(chartWidth) / float64(len(values))
	for i, v := range values {
		h := 0.0
		if most > 0 {
			h = float64(v) / float64(most) * (chartHeight - 4)
		}
		c.Bars = append(c.Bars, bar{X: float64(i)*slot + 1, Y: chartHeight - h, W: max(slot-2, 1), H: h, Label: labels[i], Title: labels[i] + ": " + format(v)})
	}
	return c
}

// dashboardData is the dashboard page's data.
type dashboardData struct {
	Issued                  int64
	Transfers, Volume, Fees chart
	Since                   time.Time
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, v *view) {
	d, err := s.cfg.Wallet.Dashboard(r.Context())
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	var days []string
	count, volume := map[string]int64{}, map[string]int64{}
	fees := map[wallet.TransferKind]int64{}
	for i := range wallet.DashboardDays {
		days = append(days, d.Since.AddDate(0, 0, i).Format(time.DateOnly))
	}
	for _, t := range d.Days {
		count[t.Day] += t.Count
		volume[t.Day] += t.Volume
		fees[t.Kind] += t.Fees
	}
	counts, volumes := make([]int64, len(days)), make([]int64, len(days))
	short := make([]string, len(days))
	for i, day := range days {
		counts[i], volumes[i], short[i] = count[day], volume[day], day[8:]
	}
	var kinds []string
	for k := range fees {
		kinds = append(kinds, string(k))
	}
	slices.Sort(kinds)
	feeValues := make([]int64, len(kinds))
	for i, k := range kinds {
		feeValues[i] = fees[wallet.TransferKind(k)]
	}
	number := func(n int64) string { return strconv.FormatInt(n, 10) }
	v.Data = &dashboardData{
		Issued:    d.Issued,
		Since:     d.Since,
		Transfers: barChart("chart-transfers", short, counts, number),
		Volume:    barChart("chart-volume", short, volumes, v.Money),
		Fees:      barChart("chart-fees", kinds, feeValues, v.Money),
	}
	s.render(w, "dashboard", v)
}
