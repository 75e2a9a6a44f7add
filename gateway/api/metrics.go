package api

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Metric types of the Prometheus text format.
const (
	Counter = "counter"
	Gauge   = "gauge"
)

// Metric is one sample for /metrics, without labels.
type Metric struct {
	Name  string // e.g. "patchbay_ingest_events_stored_total"
	Help  string
	Type  string // Counter or Gauge
	Value float64
}

func (a *api) metrics(w http.ResponseWriter, r *http.Request) {
	var ms []Metric
	if a.cfg.Metrics != nil {
		ms = slices.Clone(a.cfg.Metrics(r.Context()))
	}
	slices.SortFunc(ms, func(x, y Metric) int { return strings.Compare(x.Name, y.Name) })
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	for _, m := range ms {
		if !validMetricName(m.Name) {
			a.cfg.Logger.Error("metric with an invalid name left out", "metric", m.Name)
			continue
		}
		typ := m.Type
		if typ != Counter {
			typ = Gauge
		}
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n%s %s\n",
			m.Name, escapeHelp(m.Help), m.Name, typ, m.Name, formatValue(m.Value))
	}
	_ = bw.Flush() // the client went away
}

// validMetricName reports whether s matches [a-zA-Z_:][a-zA-Z0-9_:]*.
func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		letter := c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
