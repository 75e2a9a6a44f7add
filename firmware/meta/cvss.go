package meta

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// ErrCVSS is wrapped by every error about a CVSS vector string.
var ErrCVSS = errors.New("invalid CVSS vector")

// CVSS is a parsed CVSS v3.0 or v3.1 vector string.
type CVSS struct {
	vector  string
	version string            // "3.0" or "3.1"
	metrics map[string]string // abbreviated metric name → value
}

// metricValues lists every metric of CVSS v3.x and its allowed values
// (specification section 6, table 15). Base metrics are mandatory; the
// temporal and environmental ones are optional and X means "not defined".
var metricValues = map[string]string{
	// base
	"AV": "NALP", "AC": "LH", "PR": "NLH", "UI": "NR", "S": "UC", "C": "HLN", "I": "HLN", "A": "HLN",
	// temporal
	"E": "XHFPU", "RL": "XUWTO", "RC": "XCRU",
	// environmental
	"CR": "XHML", "IR": "XHML", "AR": "XHML",
	"MAV": "XNALP", "MAC": "XLH", "MPR": "XNLH", "MUI": "XNR", "MS": "XUC",
	"MC": "XNLH", "MI": "XNLH", "MA": "XNLH",
}

// The base metric weights (specification section 7.4).
var (
	weightAV        = map[string]float64{"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
	weightAC        = map[string]float64{"L": 0.77, "H": 0.44}
	weightPR        = map[string]float64{"N": 0.85, "L": 0.62, "H": 0.27}
	weightPRChanged = map[string]float64{"N": 0.85, "L": 0.68, "H": 0.5} // scope changed
	weightUI        = map[string]float64{"N": 0.85, "R": 0.62}
	weightCIA       = map[string]float64{"H": 0.56, "L": 0.22, "N": 0}
)

var baseMetrics = []string{"AV", "AC", "PR", "UI", "S", "C", "I", "A"}

// ParseCVSS reads a vector such as
// "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H": the version label, every
// base metric exactly once, optional temporal and environmental metrics,
// each at most once, in any order.
func ParseCVSS(vector string) (CVSS, error) {
	parts := strings.Split(vector, "/")
	version, ok := strings.CutPrefix(parts[0], "CVSS:")
	if !ok || (version != "3.0" && version != "3.1") {
		return CVSS{}, fmt.Errorf("%w %q: must start with CVSS:3.0/ or CVSS:3.1/", ErrCVSS, vector)
	}
	c := CVSS{vector: vector, version: version, metrics: make(map[string]string, len(parts)-1)}
	for _, p := range parts[1:] {
		name, value, ok := strings.Cut(p, ":")
		if !ok || name == "" || value == "" {
			return CVSS{}, fmt.Errorf("%w %q: %q is not METRIC:VALUE", ErrCVSS, vector, p)
		}
		allowed, known := metricValues[name]
		if !known {
			return CVSS{}, fmt.Errorf("%w %q: unknown metric %q", ErrCVSS, vector, name)
		}
		if len(value) != 1 || !strings.Contains(allowed, value) {
			return CVSS{}, fmt.Errorf("%w %q: metric %s has value %q, want one of %s", ErrCVSS, vector, name, value, strings.Join(strings.Split(allowed, ""), ","))
		}
		if _, dup := c.metrics[name]; dup {
			return CVSS{}, fmt.Errorf("%w %q: metric %s appears twice", ErrCVSS, vector, name)
		}
		c.metrics[name] = value
	}
	var missing []string
	for _, m := range baseMetrics {
		if _, ok := c.metrics[m]; !ok {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		return CVSS{}, fmt.Errorf("%w %q: missing base metric %s", ErrCVSS, vector, strings.Join(missing, ", "))
	}
	return c, nil
}

// String returns the vector as it was given.
func (c CVSS) String() string { return c.vector }

// Version is "3.0" or "3.1".
func (c CVSS) Version() string { return c.version }

// Metric returns the value of an abbreviated metric ("AV"), or "" if the
// vector does not set it.
func (c CVSS) Metric(name string) string { return c.metrics[name] }

// BaseScore computes the base score, 0.0 to 10.0 in steps of 0.1
// (specification section 7.1 and appendix A).
func (c CVSS) BaseScore() float64 {
	m := c.metrics
	if m == nil {
		return 0
	}
	changed := m["S"] == "C"
	pr := weightPR[m["PR"]]
	if changed {
		pr = weightPRChanged[m["PR"]]
	}
	iss := 1 - (1-weightCIA[m["C"]])*(1-weightCIA[m["I"]])*(1-weightCIA[m["A"]])

	var impact float64
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	} else {
		impact = 6.42 * iss
	}
	if impact <= 0 {
		return 0
	}
	exploitability := 8.22 * weightAV[m["AV"]] * weightAC[m["AC"]] * pr * weightUI[m["UI"]]
	total := impact + exploitability
	if changed {
		total *= 1.08
	}
	return c.roundUp(math.Min(total, 10))
}

// roundUp is the specification's Roundup: the smallest number with one
// decimal that is not below x. CVSS v3.1 (appendix A) computes it on
// integers so that floating-point noise cannot add 0.1; v3.0 defines it as
// the plain ceiling.
func (c CVSS) roundUp(x float64) float64 {
	if c.version == "3.0" {
		return math.Ceil(x*10) / 10
	}
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
}

// Severity is the qualitative rating of the base score.
func (c CVSS) Severity() Severity { return SeverityForScore(c.BaseScore()) }

// Severity is a qualitative rating of how bad the holes are that a target
// closes. Values are persisted and compared by Rank, never by string order.
type Severity string

// The ratings of CVSS v3.x (specification section 5).
const (
	SeverityNone     Severity = "none"
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// SeverityForScore maps a base score to its rating: 0.0 none, 0.1–3.9 low,
// 4.0–6.9 medium, 7.0–8.9 high, 9.0–10.0 critical.
func SeverityForScore(score float64) Severity {
	tenths := math.Round(score * 10)
	switch {
	case tenths <= 0:
		return SeverityNone
	case tenths < 40:
		return SeverityLow
	case tenths < 70:
		return SeverityMedium
	case tenths < 90:
		return SeverityHigh
	default:
		return SeverityCritical
	}
}

// ParseSeverity reads a rating name.
func ParseSeverity(s string) (Severity, error) {
	v := Severity(s)
	if v.Rank() < 0 {
		return "", fmt.Errorf("severity %q: want none, low, medium, high or critical", s)
	}
	return v, nil
}

// Rank orders ratings: none 0 … critical 4, and -1 for an unknown value.
func (s Severity) Rank() int {
	switch s {
	case SeverityNone:
		return 0
	case SeverityLow:
		return 1
	case SeverityMedium:
		return 2
	case SeverityHigh:
		return 3
	case SeverityCritical:
		return 4
	}
	return -1
}
