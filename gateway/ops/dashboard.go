package ops

import (
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/kibubu/kibubu/gateway/ops/chart"
	"github.com/kibubu/kibubu/wallet"
)

// The dashboard charts the wallet's report (wallet.Reports.Dashboard, over
// wallet.v1.report.dashboard) with package chart: SVG drawn on the server,
// styled by chart.CSS, served as a file for the strict CSP.

// dashboardChart is one chart of the dashboard: its heading, and its SVG
// (empty when the period has no transfers to chart).
type dashboardChart struct {
	ID, Title string
	SVG       template.HTML
	Problem   string // why the chart is missing (the notifier did not answer), in words
}

// dashboardData is the dashboard page's data.
type dashboardData struct {
	Report *wallet.Dashboard
	Charts []dashboardChart
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request, v *view) {
	d, err := s.cfg.Wallet.Dashboard(r.Context(), wallet.DashboardDaysDefault)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	labels := make([]string, len(d.Days))
	circulation := chart.Series{Name: v.T("ops.dashboard.circulation"), Values: make([]int64, len(d.Days))}
	for i, day := range d.Days {
		labels[i] = day.Day.Format("2 Jan")
		circulation.Values[i] = day.Circulation
	}
	count := func(n int64) string { return strconv.FormatInt(n, 10) }
	byKind := func(id, title string, measure func(wallet.KindFigures) int64, format func(int64) string) dashboardChart {
		kinds, rows := d.ByKind(measure)
		series := make([]chart.Series, len(kinds))
		for i, k := range kinds {
			series[i] = chart.Series{Name: string(k), Values: rows[i]}
		}
		return s.drawChart(id, title, chart.Bars, chart.Chart{ID: id, Title: title, Labels: labels, Series: series, Format: format})
	}
	days := make([]time.Time, len(d.Days))
	for i, day := range d.Days {
		days[i] = day.Day
	}
	v.Data = &dashboardData{Report: d, Charts: []dashboardChart{
		byKind("chart-transfers", v.T("ops.dashboard.transfers"), func(k wallet.KindFigures) int64 { return k.Count }, count),
		byKind("chart-volume", v.T("ops.dashboard.volume"), func(k wallet.KindFigures) int64 { return k.Volume }, v.Money),
		byKind("chart-fees", v.T("ops.dashboard.fees"), func(k wallet.KindFigures) int64 { return k.FeeRevenue }, v.Money),
		s.drawChart("chart-circulation", v.T("ops.dashboard.circulation"), chart.Lines, chart.Chart{ID: "chart-circulation",
			Title: v.T("ops.dashboard.circulation"), Labels: labels, Series: []chart.Series{circulation}, Format: v.Money}),
		s.failureChart(r.Context(), v, days, labels),
	}}
	s.render(w, "dashboard", v)
}

// drawChart draws c; a chart with nothing to show (no series: no transfers
// in the period) is left empty, and the page says so.
func (s *Server) drawChart(id, title string, draw func(chart.Chart) (template.HTML, error), c chart.Chart) dashboardChart {
	out := dashboardChart{ID: id, Title: title}
	if len(c.Series) == 0 {
		return out
	}
	svg, err := draw(c)
	if err != nil {
		s.log.Error("ops: chart", "id", id, "err", err)
		return out
	}
	out.SVG = svg
	return out
}
