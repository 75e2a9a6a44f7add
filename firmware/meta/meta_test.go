package meta

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// codecTests are shared by the encoder and decoder tests: each JSON is
// exactly what Encode writes for its Target.
var codecTests = []struct {
	name string
	json string
	want Target
}{
	{
		name: "design example",
		json: `{"patchbay":{"kind":"firmware","boards":["openwrt-ath79-generic"],"version":"23.05.3",` +
			`"cves":["CVE-2024-3094"],"cvss":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H","kev":true,` +
			`"requires_reboot":true,"min_version":"22.03.0","eol":"2027-06-30","released":"2024-06-01"}}`,
		want: Target{
			Kind: KindFirmware, Boards: []string{"openwrt-ath79-generic"}, Version: "23.05.3",
			CVEs: []string{"CVE-2024-3094"}, CVSS: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
			KEV: true, RequiresReboot: true, MinVersion: "22.03.0",
			EOL: Date{2027, time.June, 30}, Released: Date{2024, time.June, 1},
		},
	},
	{
		name: "minimal app",
		json: `{"patchbay":{"kind":"app","boards":["rpi4","rpi5"],"version":"1.2.0"}}`,
		want: Target{Kind: KindApp, Boards: []string{"rpi4", "rpi5"}, Version: "1.2.0"},
	},
	{
		name: "signed downgrade",
		json: `{"patchbay":{"kind":"agent","boards":["any-linux-arm"],"version":"0.9.1","allow_downgrade":true}}`,
		want: Target{Kind: KindAgent, Boards: []string{"any-linux-arm"}, Version: "0.9.1", AllowDowngrade: true},
	},
}

func TestDecode(t *testing.T) {
	for _, tt := range codecTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.json))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decode mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	for _, tt := range codecTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.want)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if string(got) != tt.json {
				t.Errorf("Encode = %s\nwant     %s", got, tt.json)
			}
		})
	}
}

func TestDecodeOtherToolsKeys(t *testing.T) {
	got, err := Decode([]byte(`{"sigstore":{"usage":"x"},"patchbay":{"kind":"app","boards":["b"],"version":"1"}}`))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got.Version != "1" {
		t.Errorf("Version = %q, want 1", got.Version)
	}
}

func TestDecodeErrors(t *testing.T) {
	valid := `"kind":"firmware","boards":["openwrt-ath79-generic"],"version":"23.05.3"`
	tests := []struct {
		name   string
		json   string
		fields []string // every field the error must name
	}{
		{"unknown field", `{"patchbay":{` + valid + `,"severity":"high"}}`, []string{"severity: unknown field"}},
		{"wrong type", `{"patchbay":{` + valid + `,"kev":"yes"}}`, []string{"kev: got JSON string, want bool"}},
		{"boards not list", `{"patchbay":{"kind":"app","boards":"rpi4","version":"1"}}`, []string{"boards: got JSON string, want list of string"}},
		{"bad date", `{"patchbay":{` + valid + `,"eol":"30.06.2027"}}`, []string{"eol: ", "want YYYY-MM-DD"}},
		{"impossible date", `{"patchbay":{` + valid + `,"eol":"2027-02-30"}}`, []string{"eol: "}},
		{"bad cvss", `{"patchbay":{` + valid + `,"cvss":"CVSS:3.1/AV:N"}}`, []string{"cvss: invalid CVSS vector"}},
		{"missing everything", `{"patchbay":{}}`, []string{"kind: required", "boards: at least one", "version: required"}},
		{"bad kind", `{"patchbay":{"kind":"kernel","boards":["b"],"version":"1"}}`, []string{`kind: "kernel" is not`}},
		{"bad board id", `{"patchbay":{"kind":"app","boards":["Open WRT"],"version":"1"}}`, []string{"boards[0]:"}},
		{"duplicate board", `{"patchbay":{"kind":"app","boards":["a","a"],"version":"1"}}`, []string{`boards[1]: "a" is listed twice`}},
		{"bad cve", `{"patchbay":{` + valid + `,"cves":["CVE-24-1"]}}`, []string{"cves[0]:"}},
		{"kev without cve", `{"patchbay":{` + valid + `,"kev":true}}`, []string{"kev: true needs"}},
		{"version with space", `{"patchbay":{"kind":"app","boards":["b"],"version":"3.0 Build 7"}}`, []string{"version: "}},
		{"eol before release", `{"patchbay":{` + valid + `,"eol":"2020-01-01","released":"2021-01-01"}}`, []string{"eol: 2020-01-01 is before"}},
		{"not an object", `{"patchbay":[1,2]}`, []string{"patchbay: want an object"}},
		{"null field", `{"patchbay":{"kind":null,"boards":["b"],"version":"1"}}`, []string{"kind: required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.json))
			if err == nil {
				t.Fatalf("Decode(%s) = nil error, want one naming %q", tt.json, tt.fields)
			}
			for _, f := range tt.fields {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("Decode(%s) = %q, want it to contain %q", tt.json, err, f)
				}
			}
		})
	}
}

func TestDecodeNoMetadata(t *testing.T) {
	for _, in := range []string{`{}`, `{"patchbay":null}`, `{"other":1}`} {
		if _, err := Decode([]byte(in)); !errors.Is(err, ErrNoMetadata) {
			t.Errorf("Decode(%s) = %v, want ErrNoMetadata", in, err)
		}
	}
	if _, err := Decode([]byte(`[]`)); err == nil || errors.Is(err, ErrNoMetadata) {
		t.Errorf("Decode([]) = %v, want a decode error", err)
	}
}

func TestValidateFieldErrors(t *testing.T) {
	err := Target{Kind: "x", Boards: []string{"ok", "NO"}, Version: ""}.Validate()
	var fe *FieldError
	if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("Validate = %v, want *FieldError matching ErrInvalid", err)
	}
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		fields = append(fields, e.(*FieldError).Field)
	}
	if diff := cmp.Diff([]string{"kind", "boards[1]", "version"}, fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	if _, err := Encode(Target{Kind: KindApp}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Encode(invalid) = %v, want ErrInvalid", err)
	}
}

func TestTargetSeverityAndFits(t *testing.T) {
	tg := codecTests[0].want
	if got := tg.Severity(); got != SeverityCritical {
		t.Errorf("Severity = %s, want critical", got)
	}
	if got := (Target{}).Severity(); got != SeverityNone {
		t.Errorf("Severity without cvss = %s, want none", got)
	}
	if !tg.Fits("openwrt-ath79-generic") || tg.Fits("openwrt-ramips-mt7621") {
		t.Error("Fits does not match boards")
	}
}

const designYAML = `# as in DESIGN.md
patchbay:
  kind: firmware
  boards: [openwrt-ath79-generic]
  version: "23.05.3"
  cves: [CVE-2024-3094]
  cvss: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
  kev: true
  requires_reboot: true
  min_version: "22.03.0"
  allow_downgrade: false
  eol: 2027-06-30
  released: 2024-06-01
`

func TestDecodeYAML(t *testing.T) {
	got, err := DecodeYAML(strings.NewReader(designYAML))
	if err != nil {
		t.Fatalf("DecodeYAML: %v", err)
	}
	if diff := cmp.Diff(codecTests[0].want, got); diff != "" {
		t.Errorf("DecodeYAML mismatch (-want +got):\n%s", diff)
	}
}

func TestDecodeYAMLErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "", "empty"},
		{"no wrapper", "kind: app\n", "field kind not found"},
		{"unknown field", "patchbay:\n  kind: app\n  boards: [b]\n  version: '1'\n  severity: high\n", "line 5: field severity not found"},
		{"bad date", "patchbay:\n  kind: app\n  boards: [b]\n  version: '1'\n  eol: June 2027\n", "want YYYY-MM-DD"},
		{"invalid", "patchbay:\n  kind: app\n  boards: [b]\n", "version: required"},
		{"two documents", "patchbay:\n  kind: app\n  boards: [b]\n  version: '1'\n---\npatchbay: {}\n", "more than one"},
		{"null", "patchbay:\n", "no patchbay: mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeYAML(strings.NewReader(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("DecodeYAML = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	for _, bad := range []string{"", "2027-6-30", "2027-06-31", "27-06-30", "2027-06-30T00:00:00Z", " 2027-06-30"} {
		if _, err := ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) = nil error, want one", bad)
		}
	}
	d, err := ParseDate("2024-02-29")
	if err != nil || d.String() != "2024-02-29" || !d.Time().Equal(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ParseDate(2024-02-29) = %v, %v", d, err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, tt := range codecTests {
		f.Add([]byte(tt.json))
	}
	f.Add([]byte(`{"patchbay":{"kind":"app","boards":["b"],"version":"1","eol":"2027-02-30"}}`))
	f.Add([]byte(`{"patchbay":{"kind":"app","boards":[null],"version":"1","cvss":"CVSS:3.0/AV:N"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(data)
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("Decode accepted a Target that does not Validate: %v", err)
		}
		enc, err := Encode(got)
		if err != nil {
			t.Fatalf("Encode(Decode(%q)): %v", data, err)
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(%q))): %v", data, err)
		}
		if diff := cmp.Diff(got, again); diff != "" {
			t.Fatalf("round trip changed the target (-first +second):\n%s", diff)
		}
	})
}

func FuzzDecodeYAML(f *testing.F) {
	f.Add(designYAML)
	f.Add("patchbay:\n  kind: app\n  boards: [b]\n  version: 1.10\n")
	f.Fuzz(func(t *testing.T, data string) {
		got, err := DecodeYAML(strings.NewReader(data))
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("DecodeYAML accepted a Target that does not Validate: %v", err)
		}
	})
}
