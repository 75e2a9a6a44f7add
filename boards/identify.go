package boards

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The OIDs every identification reads first (SNMPv2-MIB).
const (
	OIDSysDescr    = "1.3.6.1.2.1.1.1.0"
	OIDSysObjectID = "1.3.6.1.2.1.1.2.0"
)

// Identification is what identifying a device found.
type Identification struct {
	// Profile is the profile that fits best; nil when none fits or when
	// the best ones tie (Ambiguous).
	Profile *Profile
	// Version is the firmware version read by the profile's sources,
	// valid under its scheme; empty when no source yielded one.
	Version string
	// VersionSource says where Version came from ("snmp-get 1.3.6…").
	VersionSource string
	// VersionErr says why Version is empty although Profile is set; it
	// wraps ErrNoVersion.
	VersionErr error
	// Candidates are the IDs of the profiles that matched, best first;
	// generic profiles are tried only when no other matches.
	Candidates []string
	// Ambiguous is set when the best candidates matched equally well, so
	// none was chosen.
	Ambiguous bool

	// What the device said about itself, for reports on unknown devices.
	SysObjectID     string // SNMP; dotted, no leading dot
	SysDescr        string // SNMP; quotes and surrounding space removed
	DeviceTreeModel string // local
}

// Known reports whether a profile was chosen.
func (id Identification) Known() bool { return id.Profile != nil }

func (id Identification) String() string {
	if id.Profile == nil {
		what := "unknown"
		if id.Ambiguous {
			what = "ambiguous between " + strings.Join(id.Candidates, ", ")
		}
		var facts []string
		if id.SysObjectID != "" || id.SysDescr != "" {
			facts = append(facts, fmt.Sprintf("sysObjectID %s, sysDescr %q", id.SysObjectID, abbreviate(id.SysDescr)))
		}
		if id.DeviceTreeModel != "" {
			facts = append(facts, fmt.Sprintf("device-tree model %q", id.DeviceTreeModel))
		}
		if len(facts) > 0 {
			what += " (" + strings.Join(facts, "; ") + ")"
		}
		return what
	}
	if id.Version == "" {
		return id.Profile.ID + " (version unknown)"
	}
	return id.Profile.ID + " " + id.Version
}

// candidate is a profile that matched, with how specifically.
type candidate struct {
	p      *Profile
	prefix int // sub-identifiers of the matching sysObjectID prefix
	conds  int // further conditions that held
}

// compareCandidates orders better matches first: a non-generic profile
// before a generic one, then the longer sysObjectID prefix, then more
// conditions (sysDescr, values, device tree, files), then the higher
// priority. Equal candidates tie.
func compareCandidates(a, b candidate) int {
	if a.p.Generic != b.p.Generic {
		if b.p.Generic {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(b.prefix, a.prefix); c != 0 {
		return c
	}
	if c := cmp.Compare(b.conds, a.conds); c != 0 {
		return c
	}
	return cmp.Compare(b.p.Priority, a.p.Priority)
}

// choose ranks the candidates into id; a tie at the top leaves id.Profile
// nil.
func choose(id *Identification, cands []candidate) {
	slices.SortStableFunc(cands, compareCandidates)
	for _, c := range cands {
		id.Candidates = append(id.Candidates, c.p.ID)
	}
	switch {
	case len(cands) == 0:
	case len(cands) > 1 && compareCandidates(cands[0], cands[1]) == 0:
		id.Ambiguous = true
		n := 1
		for n < len(cands) && compareCandidates(cands[0], cands[n]) == 0 {
			n++
		}
		id.Candidates = id.Candidates[:n]
	default:
		id.Profile = cands[0].p
	}
}

// Identify recognises a device over SNMP and reads its firmware version.
//
// It reads sysObjectID and sysDescr, then whatever the candidate profiles'
// conditions name, and chooses the most specific profile that matches
// (see Identification.Candidates for the order: non-generic before
// generic, longest sysObjectID prefix, most conditions, highest
// priority). When the best candidates tie, or none matches, the device is
// reported unknown with what it said about itself; it is never given a
// profile that does not fit. The chosen profile's SNMP version sources are
// then tried in order; the first value valid under its version scheme
// wins.
//
// Every octet string is cleaned before it is matched or parsed: white
// space around it and one pair of wrapping '"' quotes are removed (see
// CleanText). Identify reads only the OIDs profiles name and never walks
// LLDP or CDP neighbour tables, which hold other devices' versions.
//
// The error is the reader's (transport, ctx); an unknown device or an
// unreadable version is not an error.
func Identify(ctx context.Context, r SNMPReader, set *Set) (Identification, error) {
	s := &snmpSession{r: r, vars: make(map[string]SNMPVar), asked: make(map[string]bool), walks: make(map[string][]SNMPVar)}
	if err := s.get(ctx, OIDSysObjectID, OIDSysDescr); err != nil {
		return Identification{}, fmt.Errorf("identify device: %w", err)
	}
	id := Identification{
		SysObjectID: strings.TrimPrefix(CleanText(s.vars[OIDSysObjectID].Value), "."),
		SysDescr:    CleanText(s.vars[OIDSysDescr].Value),
	}

	var cands []candidate
	for _, p := range set.profiles {
		m := p.Match.SNMP
		if m == nil {
			continue
		}
		c := candidate{p: p}
		if len(m.SysObjectID) > 0 {
			for _, prefix := range m.SysObjectID {
				if id.SysObjectID != "" && under(id.SysObjectID, prefix) {
					c.prefix = max(c.prefix, arcs(prefix))
				}
			}
			if c.prefix == 0 {
				continue
			}
		}
		if m.SysDescr != nil {
			if !m.SysDescr.MatchString(id.SysDescr) {
				continue
			}
			c.conds++
		}
		cands = append(cands, c)
	}

	// Vendor profiles first; generic ones (and their walks) only when no
	// vendor profile fits, to spare slow agents.
	matched, err := s.matching(ctx, cands, false)
	if err == nil && len(matched) == 0 {
		matched, err = s.matching(ctx, cands, true)
	}
	if err != nil {
		return id, fmt.Errorf("identify device: %w", err)
	}
	choose(&id, matched)
	if id.Profile == nil {
		return id, nil
	}
	return id, s.readVersion(ctx, &id)
}

// matching returns the candidates, generic or not, whose value conditions
// hold, reading the instances they name with as few GETs as possible.
func (s *snmpSession) matching(ctx context.Context, cands []candidate, generic bool) ([]candidate, error) {
	var need []string
	for _, c := range cands {
		if c.p.Generic != generic {
			continue
		}
		for _, v := range c.p.Match.SNMP.Values {
			if !v.Walk {
				need = append(need, v.OID)
			}
		}
	}
	if err := s.get(ctx, need...); err != nil {
		return nil, err
	}
	var matched []candidate
	for _, c := range cands {
		if c.p.Generic != generic {
			continue
		}
		ok, err := s.values(ctx, c.p.Match.SNMP.Values)
		if err != nil {
			return nil, err
		}
		if ok {
			c.conds += len(c.p.Match.SNMP.Values)
			matched = append(matched, c)
		}
	}
	return matched, nil
}

// snmpSession caches what one identification has read.
type snmpSession struct {
	r     SNMPReader
	vars  map[string]SNMPVar
	asked map[string]bool
	walks map[string][]SNMPVar
}

// getBatch keeps each GET small enough for agents' PDU limits.
const getBatch = 16

func (s *snmpSession) get(ctx context.Context, oids ...string) error {
	var todo []string
	for _, o := range oids {
		if !s.asked[o] {
			s.asked[o] = true
			todo = append(todo, o)
		}
	}
	for batch := range slices.Chunk(todo, getBatch) {
		vars, err := s.r.Get(ctx, batch)
		if err != nil {
			return fmt.Errorf("snmp get %s: %w", strings.Join(batch, " "), err)
		}
		for oid, v := range vars {
			s.vars[strings.TrimPrefix(oid, ".")] = v
		}
	}
	return nil
}

func (s *snmpSession) walk(ctx context.Context, root string) ([]SNMPVar, error) {
	if rows, ok := s.walks[root]; ok {
		return rows, nil
	}
	rows, err := s.r.Walk(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("snmp walk %s: %w", root, err)
	}
	s.walks[root] = rows
	return rows, nil
}

// values reports whether every condition holds.
func (s *snmpSession) values(ctx context.Context, conds []ValueMatch) (bool, error) {
	for _, v := range conds {
		holds := func(text string) bool {
			text = CleanText(text)
			return text != "" && (v.Regexp == nil || v.Regexp.MatchString(text))
		}
		if !v.Walk {
			got, ok := s.vars[v.OID]
			if !ok || !holds(got.Value) {
				return false, nil
			}
			continue
		}
		rows, err := s.walk(ctx, v.OID)
		if err != nil {
			return false, err
		}
		if !slices.ContainsFunc(rows, func(r SNMPVar) bool { return holds(r.Value) }) {
			return false, nil
		}
	}
	return true, nil
}

// readVersion tries the profile's SNMP sources in order.
func (s *snmpSession) readVersion(ctx context.Context, id *Identification) error {
	v := id.Profile.Version
	var problems []error
	try := func(src Source, where, text string) bool {
		got, err := src.Extract(text)
		if err == nil {
			if err = v.Scheme.Valid(got); err != nil {
				err = fmt.Errorf("%s: %w: %w", src, ErrNoVersion, err)
			}
		}
		if err != nil {
			problems = append(problems, err)
			return false
		}
		id.Version, id.VersionSource = got, where
		return true
	}
	for _, src := range v.Sources {
		switch src.Kind {
		case SourceSNMPGet:
			if err := s.get(ctx, src.OID); err != nil {
				return fmt.Errorf("read version of %s: %w", id.Profile.ID, err)
			}
			got, ok := s.vars[src.OID]
			if !ok {
				problems = append(problems, fmt.Errorf("%s: %w: the device has no such object", src, ErrNoVersion))
				continue
			}
			if try(src, src.String(), got.Value) {
				return nil
			}
		case SourceSNMPWalk:
			rows, err := s.walk(ctx, src.OID)
			if err != nil {
				return fmt.Errorf("read version of %s: %w", id.Profile.ID, err)
			}
			found := false
			for _, r := range rows {
				if CleanText(r.Value) == "" {
					continue
				}
				// Only the first non-empty row counts: a later row
				// may describe a module, not the device.
				found = true
				if try(src, src.String()+" row "+r.OID, r.Value) {
					return nil
				}
				break
			}
			if !found {
				problems = append(problems, fmt.Errorf("%s: %w: no non-empty rows", src, ErrNoVersion))
			}
		}
	}
	if len(problems) == 0 {
		problems = append(problems, fmt.Errorf("%w: the profile has no SNMP version source", ErrNoVersion))
	}
	id.VersionErr = fmt.Errorf("read version of %s: %w", id.Profile.ID, errors.Join(problems...))
	return nil
}
