package snmprec

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/boards"
)

const fixture = `1.3.6.1.2.1.1.1.0|4x|224c696e757822
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10
1.3.6.1.2.1.2.2.1.2.10|4|eth10
1.3.6.1.2.1.2.2.1.2.9|4|eth9
1.3.6.1.2.1.2.2.1.2.1|4|lo
1.3.6.1.2.1.2.2.1.3.1|2|24
1.3.6.1.2.1.4.20.1.1.10.0.0.1|64|10.0.0.1
1.3.6.1.2.1.25.1.1.0|67|100
1.3.6.1.2.1.31.1.1.1.6.1|70|5
1.3.6.1.2.1.2.2.1.10.1|65|7
`

func mustParse(t *testing.T, in string) *Recording {
	t.Helper()
	rec, err := Parse("fixture.snmprec", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestGet(t *testing.T) {
	rec := mustParse(t, fixture)
	tests := []struct {
		name string
		oids []string
		want map[string]boards.SNMPVar
	}{
		{
			name: "present and absent",
			oids: []string{"1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.5.0"},
			want: map[string]boards.SNMPVar{
				"1.3.6.1.2.1.1.1.0": {OID: "1.3.6.1.2.1.1.1.0", Type: "octets", Value: `"Linux"`},
				"1.3.6.1.2.1.1.2.0": {OID: "1.3.6.1.2.1.1.2.0", Type: "oid", Value: "1.3.6.1.4.1.8072.3.2.10"},
			},
		},
		{
			name: "leading dot and every type",
			oids: []string{".1.3.6.1.2.1.2.2.1.3.1", "1.3.6.1.2.1.4.20.1.1.10.0.0.1", "1.3.6.1.2.1.25.1.1.0",
				"1.3.6.1.2.1.31.1.1.1.6.1", "1.3.6.1.2.1.2.2.1.10.1"},
			want: map[string]boards.SNMPVar{
				"1.3.6.1.2.1.2.2.1.3.1":         {OID: "1.3.6.1.2.1.2.2.1.3.1", Type: "int", Value: "24"},
				"1.3.6.1.2.1.4.20.1.1.10.0.0.1": {OID: "1.3.6.1.2.1.4.20.1.1.10.0.0.1", Type: "ipaddress", Value: "10.0.0.1"},
				"1.3.6.1.2.1.25.1.1.0":          {OID: "1.3.6.1.2.1.25.1.1.0", Type: "timeticks", Value: "100"},
				"1.3.6.1.2.1.31.1.1.1.6.1":      {OID: "1.3.6.1.2.1.31.1.1.1.6.1", Type: "counter64", Value: "5"},
				"1.3.6.1.2.1.2.2.1.10.1":        {OID: "1.3.6.1.2.1.2.2.1.10.1", Type: "uint", Value: "7"},
			},
		},
		{name: "a subtree is not an instance", oids: []string{"1.3.6.1.2.1.1"}, want: map[string]boards.SNMPVar{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rec.Get(t.Context(), tt.oids)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Get(%v) mismatch (-want +got):\n%s", tt.oids, diff)
			}
		})
	}
}

func oids(vars []boards.SNMPVar) []string {
	var s []string
	for _, v := range vars {
		s = append(s, v.OID)
	}
	return s
}

func TestWalk(t *testing.T) {
	rec := mustParse(t, fixture)
	tests := []struct {
		root string
		want []string
	}{
		{"1.3.6.1.2.1.2.2.1.2", []string{"1.3.6.1.2.1.2.2.1.2.1", "1.3.6.1.2.1.2.2.1.2.9", "1.3.6.1.2.1.2.2.1.2.10"}},
		{"1.3.6.1.2.1.2.2.1", []string{"1.3.6.1.2.1.2.2.1.2.1", "1.3.6.1.2.1.2.2.1.2.9", "1.3.6.1.2.1.2.2.1.2.10",
			"1.3.6.1.2.1.2.2.1.3.1", "1.3.6.1.2.1.2.2.1.10.1"}},
		{"1.3.6.1.2.1.1.1.0", []string{"1.3.6.1.2.1.1.1.0"}}, // an instance walks to itself
		{".1.3.6.1.2.1.1", []string{"1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0"}},
		{"1.3.6.1.2.1.2.2.1.1", nil},  // nothing recorded there
		{"1.3.6.1.2.1.2.2.1.20", nil}, // past the column, not a prefix match
		{"1.3.6.1.2.1.99", nil},
		{"1.3.6.1.2.1.3", nil}, // 1.3.6.1.2.1.31… must not match "1.3.6.1.2.1.3"
	}
	for _, tt := range tests {
		t.Run(tt.root, func(t *testing.T) {
			vars, err := rec.Walk(t.Context(), tt.root)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, oids(vars)); diff != "" {
				t.Errorf("Walk(%s) mismatch (-want +got):\n%s", tt.root, diff)
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	rec := mustParse(t, fixture)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := rec.Get(ctx, []string{"1.3.6.1.2.1.1.1.0"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Get(canceled) error = %v, want context.Canceled", err)
	}
	if _, err := rec.Walk(ctx, "1.3.6.1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Walk(canceled) error = %v, want context.Canceled", err)
	}
	if _, err := rec.Get(t.Context(), []string{"1.3.x"}); err == nil {
		t.Error("Get(bad OID) error = nil, want one")
	}
	if _, err := rec.Walk(t.Context(), ""); err == nil {
		t.Error("Walk(empty root) error = nil, want one")
	}
}
