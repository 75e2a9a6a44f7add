package snmprec

import (
	"bytes"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the parser: it must return records or
// an error, never panic, and what it returns must be ordered, unique and
// readable back through Get and Walk.
func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add([]byte(tt.in))
	}
	f.Add([]byte(fixture))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := Parse("fuzz", bytes.NewReader(data))
		if err != nil {
			return
		}
		recs := rec.Records()
		for i, r := range recs {
			if i > 0 && compareArcs(rec.arcs[i-1], rec.arcs[i]) >= 0 {
				t.Fatalf("records %s and %s out of order", recs[i-1].OID, r.OID)
			}
			got, err := rec.Get(t.Context(), []string{r.OID})
			if err != nil {
				t.Fatalf("Get(%s): %v", r.OID, err)
			}
			if v, ok := got[r.OID]; !ok || v.Value != string(r.Value) {
				t.Fatalf("Get(%s) = %+v, want the record's value %q", r.OID, v, r.Value)
			}
			walked, err := rec.Walk(t.Context(), r.OID)
			if err != nil {
				t.Fatalf("Walk(%s): %v", r.OID, err)
			}
			if len(walked) == 0 || walked[0].OID != r.OID {
				t.Fatalf("Walk(%s) does not start at the record itself", r.OID)
			}
		}
	})
}
