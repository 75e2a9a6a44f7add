package meta

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestBaseScore(t *testing.T) {
	tests := []struct {
		name   string
		vector string
		score  string
		sev    Severity
	}{
		{"network rce", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "9.8", SeverityCritical},
		{"scope changed max", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", "10.0", SeverityCritical},
		{"reflected xss", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", "6.1", SeverityMedium},
		{"local privesc", "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "7.8", SeverityHigh},
		{"high complexity leak", "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", "5.9", SeverityMedium},
		{"physical low", "CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", "1.6", SeverityLow},
		{"no impact", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", "0.0", SeverityNone},
		{"adjacent changed", "CVSS:3.1/AV:A/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:L", "6.5", SeverityMedium},
		{"v3.0 changed", "CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", "9.9", SeverityCritical},
		{"v3.0 boundary", "CVSS:3.0/AV:L/AC:H/PR:N/UI:N/S:U/C:L/I:L/A:N", "4.0", SeverityMedium},
		{"temporal ignored", "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C", "8.8", SeverityHigh},
		{"any order", "CVSS:3.1/A:H/I:H/C:H/S:U/UI:N/PR:N/AC:L/AV:N", "9.8", SeverityCritical},
		{"environmental accepted", "CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:N/I:L/A:N/CR:H/MAV:N", "2.4", SeverityLow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCVSS(tt.vector)
			if err != nil {
				t.Fatalf("ParseCVSS(%q): %v", tt.vector, err)
			}
			if got := fmt.Sprintf("%.1f", c.BaseScore()); got != tt.score {
				t.Errorf("BaseScore(%q) = %s, want %s", tt.vector, got, tt.score)
			}
			if got := c.Severity(); got != tt.sev {
				t.Errorf("Severity(%q) = %s, want %s", tt.vector, got, tt.sev)
			}
		})
	}
}

// TestBaseScoreExhaustive checks every combination of base metric values of
// both versions against scores from an independent implementation.
func TestBaseScoreExhaustive(t *testing.T) {
	f, err := os.Open("testdata/cvss-base-scores.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	n := 0
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		vector, want, _ := strings.Cut(line, " ")
		c, err := ParseCVSS(vector)
		if err != nil {
			t.Fatalf("ParseCVSS(%q): %v", vector, err)
		}
		if got := fmt.Sprintf("%.1f", c.BaseScore()); got != want {
			t.Errorf("BaseScore(%q) = %s, want %s", vector, got, want)
		}
		n++
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 2*4*2*3*2*2*3*3*3 {
		t.Errorf("checked %d vectors, want every combination (%d)", n, 2*4*2*3*2*2*3*3*3)
	}
}

func TestParseCVSSErrors(t *testing.T) {
	tests := []struct {
		name, vector, want string
	}{
		{"empty", "", "must start with CVSS:3.0/ or CVSS:3.1/"},
		{"v2", "AV:N/AC:L/Au:N/C:P/I:P/A:P", "must start with"},
		{"v4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "must start with"},
		{"missing base", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", "missing base metric A"},
		{"duplicate", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:L", "metric A appears twice"},
		{"bad value", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "metric AV has value \"X\""},
		{"unknown metric", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:H", "unknown metric \"ZZ\""},
		{"trailing slash", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/", "is not METRIC:VALUE"},
		{"lower case", "cvss:3.1/av:n/ac:l/pr:n/ui:n/s:u/c:h/i:h/a:h", "must start with"},
		{"long value", "CVSS:3.1/AV:NN/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "metric AV has value \"NN\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCVSS(tt.vector)
			if !errors.Is(err, ErrCVSS) {
				t.Fatalf("ParseCVSS(%q) = %v, want ErrCVSS", tt.vector, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseCVSS(%q) = %q, want it to say %q", tt.vector, err, tt.want)
			}
		})
	}
}

func TestSeverityForScore(t *testing.T) {
	tests := []struct {
		score float64
		want  Severity
	}{
		{0, SeverityNone}, {0.1, SeverityLow}, {3.9, SeverityLow}, {4.0, SeverityMedium},
		{6.9, SeverityMedium}, {7.0, SeverityHigh}, {8.9, SeverityHigh}, {9.0, SeverityCritical}, {10, SeverityCritical},
	}
	for _, tt := range tests {
		if got := SeverityForScore(tt.score); got != tt.want {
			t.Errorf("SeverityForScore(%.1f) = %s, want %s", tt.score, got, tt.want)
		}
	}
}

func TestSeverityRank(t *testing.T) {
	order := []Severity{SeverityNone, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}
	for i, s := range order {
		if s.Rank() != i {
			t.Errorf("%s.Rank() = %d, want %d", s, s.Rank(), i)
		}
		if p, err := ParseSeverity(string(s)); err != nil || p != s {
			t.Errorf("ParseSeverity(%q) = %q, %v", s, p, err)
		}
	}
	if _, err := ParseSeverity("urgent"); err == nil {
		t.Error("ParseSeverity(\"urgent\") = nil error, want one")
	}
}

func FuzzParseCVSS(f *testing.F) {
	f.Add("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
	f.Add("CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H/E:P")
	f.Add("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:H")
	f.Fuzz(func(t *testing.T, v string) {
		c, err := ParseCVSS(v)
		if err != nil {
			return
		}
		s := c.BaseScore()
		if s < 0 || s > 10 {
			t.Fatalf("BaseScore(%q) = %v, outside 0..10", v, s)
		}
		if c.Severity().Rank() < 0 {
			t.Fatalf("Severity(%q) = %q", v, c.Severity())
		}
	})
}
