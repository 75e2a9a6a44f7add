package services

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"patchbay.dev/boards"
)

// snmpVarsEnv names the file of variables a pass_persist helper serves. When
// it is set, Main serves them on stdin and stdout instead of running tests.
const snmpVarsEnv = "PATCHBAY_SERVICES_SNMP_VARS"

// passVar is a variable as snmpd's pass_persist protocol returns it.
type passVar struct {
	oid   []uint32
	name  string // the OID with a leading dot
	typ   string // pass_persist type: "octet", "objectid", "integer", …
	value string // pass_persist value text
}

// passVars checks vars and converts them to pass_persist's terms, sorted by
// OID.
func passVars(vars []boards.SNMPVar) ([]passVar, error) {
	out := make([]passVar, 0, len(vars))
	var errs []error
	for i, v := range vars {
		pv, err := toPassVar(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("variable %d (%s): %w", i, v.OID, err))
			continue
		}
		out = append(out, pv)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b passVar) int { return slices.Compare(a.oid, b.oid) })
	for i := 1; i < len(out); i++ {
		if slices.Equal(out[i-1].oid, out[i].oid) {
			return nil, fmt.Errorf("variable %s given twice", out[i].name)
		}
	}
	return out, nil
}

func toPassVar(v boards.SNMPVar) (passVar, error) {
	oid, err := parseOID(v.OID)
	if err != nil {
		return passVar{}, err
	}
	pv := passVar{oid: oid, name: "." + formatOID(oid), value: v.Value}
	switch v.Type {
	case boards.SNMPTypeOctets:
		// Hex keeps any byte, newlines included; net-snmp reads an empty
		// hex string as no value at all, so an empty string goes as text.
		pv.typ, pv.value = "octet", strings.TrimSpace(fmt.Sprintf("% x", v.Value))
		if v.Value == "" {
			pv.typ = "string"
		}
	case boards.SNMPTypeOpaque:
		pv.typ, pv.value = "opaque", strings.TrimSpace(fmt.Sprintf("% x", v.Value))
	case boards.SNMPTypeOID:
		o, err := parseOID(v.Value)
		if err != nil {
			return passVar{}, fmt.Errorf("value: %w", err)
		}
		pv.typ, pv.value = "objectid", "."+formatOID(o)
	case boards.SNMPTypeInt:
		_, err = strconv.ParseInt(v.Value, 10, 32)
		pv.typ = "integer"
	case boards.SNMPTypeUint:
		_, err = strconv.ParseUint(v.Value, 10, 32)
		pv.typ = "gauge"
	case boards.SNMPTypeTimeTicks:
		_, err = strconv.ParseUint(v.Value, 10, 32)
		pv.typ = "timeticks"
	case boards.SNMPTypeCounter64:
		_, err = strconv.ParseUint(v.Value, 10, 64)
		pv.typ = "counter64"
	case boards.SNMPTypeIPAddress:
		var a netip.Addr
		if a, err = netip.ParseAddr(v.Value); err == nil && !a.Is4() {
			err = fmt.Errorf("%s is not an IPv4 address", v.Value)
		}
		pv.typ = "ipaddress"
	case boards.SNMPTypeNull:
		// snmpd drops a pass_persist answer of a type it does not know
		// and skips the rest of the subtree, so refuse it here.
		return passVar{}, fmt.Errorf("snmpd's pass_persist cannot serve NULL values; leave the variable out")
	default:
		return passVar{}, fmt.Errorf("type %q: want octets, opaque, oid, int, uint, counter64, ipaddress or timeticks", v.Type)
	}
	if err != nil {
		return passVar{}, fmt.Errorf("%s value %q: %w", v.Type, v.Value, err)
	}
	return pv, nil
}

// servePassPersist answers snmpd's pass_persist requests from r on w with
// vars until r ends. The protocol (snmpd.conf(5), "pass_persist"): "PING"
// is answered "PONG"; "get" or "getnext" followed by an OID line is answered
// with the OID, type and value lines of the variable, or "NONE"; "set"
// followed by an OID line and a "TYPE VALUE" line is answered
// "not-writable".
func servePassPersist(r io.Reader, w io.Writer, vars []passVar) error {
	in := bufio.NewScanner(r)
	out := bufio.NewWriter(w)
	next := func() (string, bool) {
		if !in.Scan() {
			return "", false
		}
		return strings.TrimSpace(in.Text()), true
	}
	for {
		cmd, ok := next()
		if !ok {
			return in.Err()
		}
		switch cmd {
		case "PING":
			out.WriteString("PONG\n")
		case "get", "getnext":
			arg, ok := next()
			if !ok {
				return in.Err()
			}
			if v, found := lookupPassVar(vars, arg, cmd == "getnext"); found {
				fmt.Fprintf(out, "%s\n%s\n%s\n", v.name, v.typ, v.value)
			} else {
				out.WriteString("NONE\n")
			}
		case "set":
			next() // OID
			next() // TYPE VALUE
			out.WriteString("not-writable\n")
		case "":
			continue
		default:
			out.WriteString("NONE\n")
		}
		if err := out.Flush(); err != nil {
			return err
		}
	}
}

// lookupPassVar finds the variable named oid or, for getnext, the first one
// after it.
func lookupPassVar(vars []passVar, oid string, getnext bool) (passVar, bool) {
	want, err := parseOID(oid)
	if err != nil {
		return passVar{}, false
	}
	i, found := slices.BinarySearchFunc(vars, want, func(v passVar, want []uint32) int { return slices.Compare(v.oid, want) })
	if !getnext {
		if !found {
			return passVar{}, false
		}
		return vars[i], true
	}
	if found {
		i++
	}
	if i >= len(vars) {
		return passVar{}, false
	}
	return vars[i], true
}

// writePassVars stores vars for the helper, one per line as
// "OID<TAB>TYPE<TAB>VALUE"; pass_persist values hold no tabs or newlines
// (octets are hex). Not JSON: it would mangle octets that are not UTF-8.
func writePassVars(path string, vars []passVar) error {
	var b strings.Builder
	for _, v := range vars {
		fmt.Fprintf(&b, "%s\t%s\t%s\n", v.name, v.typ, v.value)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// runPassPersist is Main's pass_persist mode: it serves the variables that
// writePassVars stored at path on stdin and stdout.
func runPassPersist(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read SNMP variables: %w", err)
	}
	var vars []passVar
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return fmt.Errorf("%s:%d: want OID, type and value separated by tabs", path, i+1)
		}
		oid, err := parseOID(f[0])
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		vars = append(vars, passVar{oid: oid, name: f[0], typ: f[1], value: f[2]})
	}
	return servePassPersist(os.Stdin, os.Stdout, vars)
}

// parseOID parses a dotted OID with or without a leading dot.
func parseOID(s string) ([]uint32, error) {
	t := strings.TrimPrefix(s, ".")
	if t == "" {
		return nil, fmt.Errorf("empty OID")
	}
	parts := strings.Split(t, ".")
	oid := make([]uint32, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil || n > math.MaxUint32 {
			return nil, fmt.Errorf("OID %q: arc %d is not a number up to %d", s, i+1, uint32(math.MaxUint32))
		}
		oid[i] = uint32(n)
	}
	return oid, nil
}

// formatOID renders oid dotted, without a leading dot.
func formatOID(oid []uint32) string {
	var b strings.Builder
	for i, n := range oid {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	return b.String()
}
