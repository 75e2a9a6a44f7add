package version

import (
	"errors"
	"testing"
)

var cisco = Scheme{Kind: KindRegex, Pattern: `^(\d+)\.(\d+)\((\d+)([a-z]?)\)([A-Z]*)(\d*)$`}

func TestCompare(t *testing.T) {
	tests := []struct {
		name   string
		scheme Scheme
		a, b   string
		want   int
	}{
		{"semver patch", Semver, "1.2.3", "1.2.4", -1},
		{"semver equal with v", Semver, "v1.2.3", "1.2.3", 0},
		{"semver build ignored", Semver, "1.2.3+abc", "1.2.3", 0},
		{"semver prerelease before release", Semver, "1.0.0-rc.1", "1.0.0", -1},
		{"semver numeric prerelease ids", Semver, "1.0.0-alpha.2", "1.0.0-alpha.10", -1},
		{"semver numeric before text", Semver, "1.0.0-1", "1.0.0-alpha", -1},
		{"semver longer prerelease newer", Semver, "1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"semver major", Semver, "10.0.0", "9.99.99", 1},
		{"openwrt point release", Dotted, "23.05.3", "23.05.2", 1},
		{"openwrt leading zero", Dotted, "23.05.0", "23.5", 0},
		{"openwrt rc before final", Dotted, "21.02.0-rc4", "21.02.0", -1},
		{"openwrt rc order", Dotted, "21.02.0-rc4", "21.02.0-rc10", -1},
		{"openwrt major", Dotted, "22.03.7", "23.05.0", -1},
		{"routeros", Dotted, "7.20.6", "7.9.2", 1},
		{"routeros rc before release", Dotted, "7.15rc2", "7.15", -1},
		{"routeros rc after previous", Dotted, "7.15rc2", "7.14.3", 1},
		{"routeros beta before rc", Dotted, "7.15beta9", "7.15rc1", -1},
		{"procurve letters", Dotted, "W.15.08.0012", "W.15.08.0011", 1},
		{"moxa v prefix", Dotted, "V6.4", "6.3", 1},
		{"edgeswitch long", Dotted, "1.8.0.5106045", "1.8.0", 1},
		{"cisco rebuild", cisco, "15.2(7)E8", "15.2(7)E7", 1},
		{"cisco minor", cisco, "15.0(2a)EX5", "15.2(7)E8", -1},
		{"cisco no rebuild older", cisco, "15.2(7)E", "15.2(7)E8", -1},
		{"cisco equal", cisco, "12.2(55)SE12", "12.2(55)SE12", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.scheme.Compile()
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Compare(tt.a, tt.b)
			if err != nil {
				t.Fatalf("Compare(%q, %q): %v", tt.a, tt.b, err)
			}
			if got != tt.want {
				t.Errorf("Compare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			back, _ := s.Compare(tt.b, tt.a)
			if back != -tt.want {
				t.Errorf("Compare(%q, %q) = %d, want %d (antisymmetry)", tt.b, tt.a, back, -tt.want)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name   string
		scheme Scheme
		v      string
	}{
		{"semver two parts", Semver, "1.2"},
		{"semver leading zero", Semver, "1.02.3"},
		{"semver empty prerelease", Semver, "1.2.3-"},
		{"semver text", Semver, "latest"},
		{"empty", Dotted, ""},
		{"dotted empty part", Dotted, "1..2"},
		{"dotted space inside", Dotted, "3.0.3 Build 20181101"},
		{"regex no match", cisco, "16.6.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.scheme.Valid(tt.v); !errors.Is(err, ErrInvalid) {
				t.Errorf("Valid(%q) = %v, want ErrInvalid", tt.v, err)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	for _, s := range []Scheme{
		{},
		{Kind: "calver"},
		{Kind: KindRegex},
		{Kind: KindRegex, Pattern: `(`},
		{Kind: KindRegex, Pattern: `^\d+$`},
		{Kind: KindSemver, Pattern: `(\d)`},
	} {
		if _, err := s.Compile(); err == nil {
			t.Errorf("Compile(%+v) = nil error, want one", s)
		}
	}
}

func FuzzCompare(f *testing.F) {
	for _, s := range []string{"1.2.3", "21.02.0-rc4", "W.15.08.0012", "15.2(7)E8", "v1.0.0-alpha.1+b"} {
		f.Add(s, "1.0.0")
	}
	schemes := []Scheme{Semver, Dotted, cisco}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, s := range schemes {
			ab, errA := s.Compare(a, b)
			ba, errB := s.Compare(b, a)
			if (errA == nil) != (errB == nil) {
				t.Fatalf("%s: Compare errors differ by order: %v / %v", s, errA, errB)
			}
			if errA == nil && ab != -ba {
				t.Fatalf("%s: Compare(%q,%q)=%d but reverse=%d", s, a, b, ab, ba)
			}
		}
	})
}
