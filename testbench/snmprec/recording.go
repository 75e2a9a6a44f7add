package snmprec

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"patchbay.dev/boards"
)

// Recording is a parsed recording, ordered by OID. It implements
// boards.SNMPReader.
type Recording struct {
	name    string
	records []Record // sorted by arcs, unique OIDs
	arcs    [][]uint32
	index   map[string]int
	dups    []Record
}

var _ boards.SNMPReader = (*Recording)(nil)

func newRecording(name string, records []Record) *Recording {
	arcs := make(map[string][]uint32, len(records))
	for _, r := range records {
		if _, ok := arcs[r.OID]; !ok {
			a, _ := parseArcs(r.OID) // checked by parseLine
			arcs[r.OID] = a
		}
	}
	// Stable, so that among equal OIDs the earliest line comes first.
	slices.SortStableFunc(records, func(a, b Record) int {
		return compareArcs(arcs[a.OID], arcs[b.OID])
	})
	rec := &Recording{name: name, index: make(map[string]int, len(records))}
	for _, r := range records {
		if _, seen := rec.index[r.OID]; seen {
			rec.dups = append(rec.dups, r)
			continue
		}
		rec.index[r.OID] = len(rec.records)
		rec.records = append(rec.records, r)
		rec.arcs = append(rec.arcs, arcs[r.OID])
	}
	return rec
}

// compareArcs orders OIDs by sub-identifier; a prefix sorts first.
func compareArcs(a, b []uint32) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := cmp.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// Name is the name the recording was parsed under.
func (r *Recording) Name() string { return r.name }

// Len is the number of distinct OIDs recorded.
func (r *Recording) Len() int { return len(r.records) }

// Records returns the records in OID order, one per OID.
func (r *Recording) Records() []Record { return slices.Clone(r.records) }

// Duplicates returns the later records of OIDs recorded more than once,
// which Get and Walk ignore.
func (r *Recording) Duplicates() []Record { return slices.Clone(r.dups) }

// Get returns the recorded variables among oids; OIDs not recorded are
// missing from the map, as noSuchObject/noSuchInstance are.
func (r *Recording) Get(ctx context.Context, oids []string) (map[string]boards.SNMPVar, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get from recording %s: %w", r.name, err)
	}
	vars := make(map[string]boards.SNMPVar, len(oids))
	for _, o := range oids {
		oid, err := canonicalOID(o)
		if err != nil {
			return nil, fmt.Errorf("get from recording %s: %w", r.name, err)
		}
		if i, ok := r.index[oid]; ok {
			vars[oid] = r.records[i].Var()
		}
	}
	return vars, nil
}

// Walk returns root itself if it is recorded, then every variable under
// it, in OID order.
func (r *Recording) Walk(ctx context.Context, root string) ([]boards.SNMPVar, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("walk recording %s: %w", r.name, err)
	}
	oid, err := canonicalOID(root)
	if err != nil {
		return nil, fmt.Errorf("walk recording %s: %w", r.name, err)
	}
	rootArcs, _ := parseArcs(oid)
	start, _ := slices.BinarySearchFunc(r.arcs, rootArcs, compareArcs)
	var vars []boards.SNMPVar
	for i := start; i < len(r.records) && hasPrefix(r.arcs[i], rootArcs); i++ {
		vars = append(vars, r.records[i].Var())
	}
	return vars, nil
}

func hasPrefix(a, prefix []uint32) bool {
	return len(a) >= len(prefix) && slices.Equal(a[:len(prefix)], prefix)
}

// Var renders the record as boards renders SNMP variables.
func (rec Record) Var() boards.SNMPVar {
	return boards.SNMPVar{OID: rec.OID, Type: varType(rec.Tag), Value: string(rec.Value)}
}

func varType(t Tag) string {
	switch t {
	case TagInteger:
		return boards.SNMPTypeInt
	case TagOctetString:
		return boards.SNMPTypeOctets
	case TagNull:
		return boards.SNMPTypeNull
	case TagOID:
		return boards.SNMPTypeOID
	case TagIPAddress:
		return boards.SNMPTypeIPAddress
	case TagCounter32, TagGauge32:
		return boards.SNMPTypeUint
	case TagTimeTicks:
		return boards.SNMPTypeTimeTicks
	case TagOpaque:
		return boards.SNMPTypeOpaque
	case TagCounter64:
		return boards.SNMPTypeCounter64
	}
	return string(t)
}
