package boards_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/boards"
	"patchbay.dev/testbench/snmprec"
)

func recording(t *testing.T, lines ...string) *snmprec.Recording {
	t.Helper()
	rec, err := snmprec.Parse(t.Name()+".snmprec", strings.NewReader(strings.Join(lines, "\n")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func sysObjectID(oid string) string { return "1.3.6.1.2.1.1.2.0|6|" + oid }
func sysDescr(s string) string      { return "1.3.6.1.2.1.1.1.0|4|" + s }

func embeddedSet(t *testing.T) *boards.Set {
	t.Helper()
	set, err := boards.Load()
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// result is what the tests compare of an Identification.
type result struct {
	ID, Version, Source string
	Unknown, Ambiguous  bool
	NoVersion           bool
	SysObjectID         string
	SysDescr            string
}

func summarize(id boards.Identification) result {
	r := result{Version: id.Version, Source: id.VersionSource, Ambiguous: id.Ambiguous,
		SysObjectID: id.SysObjectID, SysDescr: id.SysDescr}
	if id.Profile == nil {
		r.Unknown = true
	} else {
		r.ID = id.Profile.ID
		r.NoVersion = errors.Is(id.VersionErr, boards.ErrNoVersion)
	}
	return r
}

func TestIdentifyEmbedded(t *testing.T) {
	set := embeddedSet(t)
	const (
		ciscoDescr = "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E8, RELEASE SOFTWARE (fc1)"
		entSwRev   = "1.3.6.1.2.1.47.1.1.1.1.10."
	)
	tests := []struct {
		name  string
		lines []string
		want  result
	}{
		{
			name:  "unknown vendor is reported, not guessed",
			lines: []string{sysDescr("Acme Widget 3000, firmware 1.2.3"), sysObjectID("1.3.6.1.4.1.99999.1.2")},
			want:  result{Unknown: true, SysObjectID: "1.3.6.1.4.1.99999.1.2", SysDescr: "Acme Widget 3000, firmware 1.2.3"},
		},
		{
			name:  "net-snmp that is not Linux",
			lines: []string{sysDescr("FreeBSD fw1 14.1-RELEASE FreeBSD 14.1-RELEASE amd64"), sysObjectID("1.3.6.1.4.1.8072.3.2.10")},
			want:  result{Unknown: true, SysObjectID: "1.3.6.1.4.1.8072.3.2.10", SysDescr: "FreeBSD fw1 14.1-RELEASE FreeBSD 14.1-RELEASE amd64"},
		},
		{
			name:  "sysObjectID prefixes match whole sub-identifiers",
			lines: []string{sysDescr(ciscoDescr), sysObjectID("1.3.6.1.4.1.9.10.5")},
			want:  result{Unknown: true, SysObjectID: "1.3.6.1.4.1.9.10.5", SysDescr: ciscoDescr},
		},
		{
			name:  "no answer at all",
			lines: []string{"1.3.6.1.2.1.2.1.0|2|3"},
			want:  result{Unknown: true},
		},
		{
			name:  "cisco ios from sysDescr",
			lines: []string{sysDescr(ciscoDescr), sysObjectID("1.3.6.1.4.1.9.1.1208")},
			want:  result{ID: "cisco-ios", Version: "15.2(7)E8", Source: "snmp-get 1.3.6.1.2.1.1.1.0", SysObjectID: "1.3.6.1.4.1.9.1.1208", SysDescr: ciscoDescr},
		},
		{
			name: "quoted hex sysDescr with CR LF",
			lines: []string{
				"1.3.6.1.2.1.1.1.0|4x|22436973636f20494f5320536f6674776172652c2056657273696f6e2031322e32283535295345392c0d0a5445535422",
				sysObjectID("1.3.6.1.4.1.9.1.634"),
			},
			want: result{ID: "cisco-ios", Version: "12.2(55)SE9", Source: "snmp-get 1.3.6.1.2.1.1.1.0",
				SysObjectID: "1.3.6.1.4.1.9.1.634", SysDescr: "Cisco IOS Software, Version 12.2(55)SE9,\r\nTEST"},
		},
		{
			name: "CDP neighbours' versions are never read",
			lines: []string{
				sysDescr("Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M)"), sysObjectID("1.3.6.1.4.1.9.1.1208"),
				"1.3.6.1.4.1.9.9.23.1.2.1.1.5.10101.1|4|Cisco IOS Software, C3750 Software, Version 12.2(55)SE5, RELEASE SOFTWARE",
			},
			want: result{ID: "cisco-ios", NoVersion: true, SysObjectID: "1.3.6.1.4.1.9.1.1208",
				SysDescr: "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M)"},
		},
		{
			name: "LLDP neighbours' versions are never read",
			lines: []string{
				sysDescr("HP J9146A Switch"), sysObjectID("1.3.6.1.4.1.11.2.3.7.11.84"),
				"1.0.8802.1.1.2.1.4.1.1.10.0.1.1|4|HP J9145A Switch, revision W.15.14.0016, ROM W.14.06",
			},
			want: result{ID: "hpe-procurve", NoVersion: true, SysObjectID: "1.3.6.1.4.1.11.2.3.7.11.84", SysDescr: "HP J9146A Switch"},
		},
		{
			name: "a version that does not fit the scheme falls through to the next source",
			lines: []string{
				sysDescr("Cisco IOS Software, Version 16.12.4, RELEASE SOFTWARE"), sysObjectID("1.3.6.1.4.1.9.1.1208"),
				entSwRev + "1|4|", entSwRev + "1001|4|15.2(7)E8", entSwRev + "2001|4|15.2(4)E10",
			},
			want: result{ID: "cisco-ios", Version: "15.2(7)E8", Source: "snmp-walk 1.3.6.1.2.1.47.1.1.1.1.10 row 1.3.6.1.2.1.47.1.1.1.1.10.1001",
				SysObjectID: "1.3.6.1.4.1.9.1.1208", SysDescr: "Cisco IOS Software, Version 16.12.4, RELEASE SOFTWARE"},
		},
		{
			name: "IOS XE wins over IOS by priority",
			lines: []string{
				sysDescr("Cisco IOS Software [Cupertino], Catalyst L3 Switch Software (CAT9K_IOSXE), Version 17.9.4a, RELEASE SOFTWARE (fc5)"),
				sysObjectID("1.3.6.1.4.1.9.1.2494"),
			},
			want: result{ID: "cisco-iosxe", Version: "17.9.4a", Source: "snmp-get 1.3.6.1.2.1.1.1.0", SysObjectID: "1.3.6.1.4.1.9.1.2494",
				SysDescr: "Cisco IOS Software [Cupertino], Catalyst L3 Switch Software (CAT9K_IOSXE), Version 17.9.4a, RELEASE SOFTWARE (fc5)"},
		},
		{
			name:  "generic ENTITY-MIB fallback claims no vendor",
			lines: []string{sysDescr("Acme Switch"), sysObjectID("1.3.6.1.4.1.99999.7"), entSwRev + "1|4|", entSwRev + "2|4|2.4.1", entSwRev + "3|4|9.9.9"},
			want: result{ID: "generic-entity-mib", Version: "2.4.1", Source: "snmp-walk 1.3.6.1.2.1.47.1.1.1.1.10 row 1.3.6.1.2.1.47.1.1.1.1.10.2",
				SysObjectID: "1.3.6.1.4.1.99999.7", SysDescr: "Acme Switch"},
		},
		{
			name:  "a vendor profile beats the generic ones",
			lines: []string{sysDescr("GS1900-24"), sysObjectID("1.3.6.1.4.1.890.1.15"), entSwRev + "1|4|2.10.1", "1.3.6.1.4.1.890.1.15.3.1.6.0|4|V2.60(AAHL.1) | 01/01/2021"},
			want: result{ID: "zyxel-gs1900", Version: "V2.60(AAHL.1)", Source: "snmp-get 1.3.6.1.4.1.890.1.15.3.1.6.0",
				SysObjectID: "1.3.6.1.4.1.890.1.15", SysDescr: "GS1900-24"},
		},
		{
			name:  "OpenWrt on another target is generic OpenWrt, not the Linksys profile",
			lines: []string{sysDescr("Linux gw 5.15.150 #0 SMP Mon Mar 4 2024 mips"), sysObjectID("1.3.6.1.4.1.8072.3.2.10"), "1.3.6.1.4.1.8072.1.3.2.3.1.1.6.100.105.115.116.114.111|4|OpenWrt 23.05.3 r23809-234f1a2efa"},
			want: result{ID: "openwrt", Version: "23.05.3", Source: "snmp-get 1.3.6.1.4.1.8072.1.3.2.3.1.1.6.100.105.115.116.114.111",
				SysObjectID: "1.3.6.1.4.1.8072.3.2.10", SysDescr: "Linux gw 5.15.150 #0 SMP Mon Mar 4 2024 mips"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := boards.Identify(t.Context(), recording(t, tt.lines...), set)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summarize(id)); diff != "" {
				t.Errorf("Identify() mismatch (-want +got):\n%s\ncandidates %v, version problems: %v", diff, id.Candidates, id.VersionErr)
			}
		})
	}
}

// rankProfile is a minimal profile for ranking tests.
func rankProfile(t *testing.T, id string, extra string) *boards.Profile {
	t.Helper()
	head := "id: " + id + "\nvendor: Acme\n"
	if !strings.Contains(extra, "generic: true") {
		head += "model: " + id + "\n"
	}
	p, err := boards.ParseProfile(id+".yaml", []byte(head+extra+`
version:
  scheme: dotted
  sources: [{kind: snmp-get, oid: 1.3.6.1.4.1.99999.9.0}]
`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIdentifyRanking(t *testing.T) {
	device := []string{sysDescr("Acme R1 router"), sysObjectID("1.3.6.1.4.1.99999.1.5"), "1.3.6.1.4.1.99999.9.0|4|1.0.0"}
	short := "match: {snmp: {sys_object_id: [1.3.6.1.4.1.99999]}}"
	long := "match: {snmp: {sys_object_id: [1.3.6.1.4.1.99999.1]}}"
	descr := "match: {snmp: {sys_object_id: [1.3.6.1.4.1.99999], sys_descr: '^Acme R'}}"
	tests := []struct {
		name       string
		profiles   map[string]string
		want       string // "" for none
		ambiguous  bool
		candidates []string
	}{
		{"longest prefix wins", map[string]string{"a": short, "b": long}, "b", false, []string{"b", "a"}},
		{"a condition more wins at equal prefix", map[string]string{"a": short, "b": descr}, "b", false, []string{"b", "a"}},
		{"prefix before conditions", map[string]string{"a": long, "b": descr}, "a", false, []string{"a", "b"}},
		{"priority breaks a tie", map[string]string{"a": short, "b": short + "\npriority: 5"}, "b", false, []string{"b", "a"}},
		{"a tie is ambiguous, not a guess", map[string]string{"a": short, "b": short, "c": "match: {snmp: {sys_object_id: [1.3.6.1.4.1]}}"}, "", true, []string{"a", "b"}},
		{"non-generic beats generic with a longer prefix", map[string]string{"a": short, "g": strings.Replace(long, "match:", "generic: true\nmatch:", 1)}, "a", false, []string{"a"}},
		{"a failed value condition excludes", map[string]string{"a": short, "b": "match: {snmp: {sys_object_id: [1.3.6.1.4.1.99999.1], values: [{get: 1.3.6.1.4.1.99999.8.0}]}}"}, "a", false, []string{"a"}},
		{"a held value condition counts", map[string]string{"a": descr, "b": "match: {snmp: {sys_object_id: [1.3.6.1.4.1.99999], values: [{get: 1.3.6.1.4.1.99999.9.0, regex: '^1\\.'}]}}\npriority: 1"}, "b", false, []string{"b", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps []*boards.Profile
			for id, m := range tt.profiles {
				ps = append(ps, rankProfile(t, id, m))
			}
			set, err := boards.NewSet(ps...)
			if err != nil {
				t.Fatal(err)
			}
			id, err := boards.Identify(t.Context(), recording(t, device...), set)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if id.Profile != nil {
				got = id.Profile.ID
			}
			if got != tt.want || id.Ambiguous != tt.ambiguous {
				t.Errorf("Identify() = %q (ambiguous %t), want %q (ambiguous %t)", got, id.Ambiguous, tt.want, tt.ambiguous)
			}
			if diff := cmp.Diff(tt.candidates, id.Candidates); diff != "" {
				t.Errorf("Candidates mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// spyReader records every OID a reader is asked for.
type spyReader struct {
	boards.SNMPReader
	mu    sync.Mutex
	asked []string
	err   error
}

func (s *spyReader) Get(ctx context.Context, oids []string) (map[string]boards.SNMPVar, error) {
	s.mu.Lock()
	s.asked = append(s.asked, oids...)
	s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	return s.SNMPReader.Get(ctx, oids)
}

func (s *spyReader) Walk(ctx context.Context, root string) ([]boards.SNMPVar, error) {
	s.mu.Lock()
	s.asked = append(s.asked, root)
	s.mu.Unlock()
	return s.SNMPReader.Walk(ctx, root)
}

// TestIdentifyNeverReadsNeighbourTables asks every embedded profile's
// questions of devices and checks none reaches LLDP or CDP tables.
func TestIdentifyNeverReadsNeighbourTables(t *testing.T) {
	set := embeddedSet(t)
	devices := [][]string{
		{sysDescr("Linux host 6.1.0 #1 SMP x86_64"), sysObjectID("1.3.6.1.4.1.8072.3.2.10")},
		{sysDescr("Cisco IOS Software, Version 15.2(7)E8,"), sysObjectID("1.3.6.1.4.1.9.1.1208")},
		{sysDescr("Acme"), sysObjectID("1.3.6.1.4.1.99999.1"), "1.3.6.1.2.1.47.1.1.1.1.10.1|4|1.0"},
	}
	for _, lines := range devices {
		spy := &spyReader{SNMPReader: recording(t, lines...)}
		if _, err := boards.Identify(t.Context(), spy, set); err != nil {
			t.Fatal(err)
		}
		for _, oid := range spy.asked {
			for _, table := range []string{"1.0.8802.1.1.2", "1.3.111.2.802.1.1.13", "1.3.6.1.4.1.9.9.23"} {
				if oid == table || strings.HasPrefix(oid, table+".") || strings.HasPrefix(table, oid+".") {
					t.Errorf("Identify read %s, in the neighbour table %s", oid, table)
				}
			}
		}
	}
}

func TestIdentifyReaderError(t *testing.T) {
	errDown := errors.New("request timeout")
	spy := &spyReader{SNMPReader: recording(t, sysDescr("x"), sysObjectID("1.3.6.1.4.1.9.1.1")), err: errDown}
	_, err := boards.Identify(t.Context(), spy, embeddedSet(t))
	if !errors.Is(err, errDown) {
		t.Errorf("Identify() error = %v, want it to wrap %v", err, errDown)
	}
}

func TestIdentificationString(t *testing.T) {
	set := embeddedSet(t)
	ios, _ := set.Lookup("cisco-ios")
	tests := []struct {
		id   boards.Identification
		want string
	}{
		{boards.Identification{Profile: ios, Version: "15.2(7)E8"}, "cisco-ios 15.2(7)E8"},
		{boards.Identification{Profile: ios}, "cisco-ios (version unknown)"},
		{boards.Identification{SysObjectID: "1.3.6.1.4.1.99999.1", SysDescr: "Acme"}, `unknown (sysObjectID 1.3.6.1.4.1.99999.1, sysDescr "Acme")`},
		{boards.Identification{Ambiguous: true, Candidates: []string{"a", "b"}, DeviceTreeModel: "Board X"}, `ambiguous between a, b (device-tree model "Board X")`},
	}
	for _, tt := range tests {
		if got := tt.id.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}
