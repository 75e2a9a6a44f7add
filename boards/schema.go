package boards

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var idPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$`)

// profile decodes and checks one profile document.
func (d *decoder) profile(root *yaml.Node) *Profile {
	p := &Profile{Source: fmt.Sprintf("%s:%d", d.file, root.Line)}
	var (
		prio     int64
		matchN   *yaml.Node
		errsHere = len(d.errs)
	)
	given := d.mapping(root, "", []field{
		{"id", true, func(n *yaml.Node, at string) {
			if s, ok := d.scalar(n, at, "an id"); ok {
				if !idPattern.MatchString(s) {
					d.errorf(n, at, "%q is not an id: want lower-case letters, digits and '-', at most 64, such as openwrt-ath79-generic", s)
					return
				}
				p.ID = s
			}
		}},
		{"vendor", false, func(n *yaml.Node, at string) { d.str(n, at, &p.Vendor) }},
		{"model", false, func(n *yaml.Node, at string) { d.str(n, at, &p.Model) }},
		{"description", false, func(n *yaml.Node, at string) { d.str(n, at, &p.Description) }},
		{"generic", false, func(n *yaml.Node, at string) { d.boolean(n, at, &p.Generic) }},
		{"priority", false, func(n *yaml.Node, at string) { d.integer(n, at, -1000, 1000, &prio) }},
		{"cpe", false, func(n *yaml.Node, at string) { p.CPE = d.cpe(n, at) }},
		{"arch", false, func(n *yaml.Node, at string) { p.Arch = d.arch(n, at) }},
		{"match", true, func(n *yaml.Node, at string) { matchN = n; p.Match = d.match(n, at) }},
		{"version", true, func(n *yaml.Node, at string) { p.Version = d.version(n, at) }},
		{"boot", false, func(n *yaml.Node, at string) { p.Boot = d.boot(n, at) }},
		{"reboot", false, func(n *yaml.Node, at string) { p.Reboot = d.reboot(n, at) }},
		{"health", false, func(n *yaml.Node, at string) { p.Health = d.health(n, at) }},
	})
	if given == nil {
		return nil
	}
	p.Priority = int(prio)
	if p.Boot.Loader == "" {
		p.Boot.Loader = LoaderNone
	}
	if p.Reboot.Method == "" {
		p.Reboot.Method = RebootNone
	}

	// Rules across fields.
	if p.Generic {
		if k := given["model"]; k != nil {
			d.errorf(k, "model", "a generic profile claims no model; remove model or set generic: false")
		}
	} else {
		for _, f := range []string{"vendor", "model"} {
			if given[f] == nil {
				d.errorf(root, f, "required unless the profile is generic: true")
			}
		}
		if s := p.Match.SNMP; s != nil && len(s.SysObjectID) == 0 && matchN != nil {
			d.errorf(matchN, "match.snmp.sys_object_id", "a profile that is not generic must name its vendor's sysObjectID prefix(es)")
		}
	}
	if matchN != nil {
		d.checkSourcesFitMatch(matchN, p)
	}
	if p.Reboot.Method == RebootMCUbootReset && p.Boot.Loader != LoaderMCUboot {
		d.errorf(given["reboot"], "reboot.method", "mcuboot-reset needs boot.loader: mcuboot (found %s)", p.Boot.Loader)
	}
	if len(d.errs) > errsHere {
		return nil
	}
	return p
}

// checkSourcesFitMatch requires a version source for every way the
// profile can be matched.
func (d *decoder) checkSourcesFitMatch(matchN *yaml.Node, p *Profile) {
	has := func(kinds ...SourceKind) bool {
		return slices.ContainsFunc(p.Version.Sources, func(s Source) bool { return slices.Contains(kinds, s.Kind) })
	}
	if len(p.Version.Sources) == 0 {
		return // reported by version
	}
	if p.Match.SNMP != nil && !has(SourceSNMPGet, SourceSNMPWalk) {
		d.errorf(matchN, "match.snmp", "matched over SNMP but version.sources has no snmp-get or snmp-walk source")
	}
	if p.Match.local() && !has(SourceFile) {
		d.errorf(matchN, "match", "matched by device tree or files but version.sources has no file source")
	}
	if len(p.Match.USB) > 0 && !has(SourceSMP, SourceConsole) {
		d.errorf(matchN, "match.usb", "matched over USB serial but version.sources has no smp or console source")
	}
}

var cpeName = regexp.MustCompile(`^[a-z0-9][a-z0-9._\-]*$`)

func (d *decoder) cpe(n *yaml.Node, at string) *CPE {
	var c CPE
	d.mapping(n, at, []field{
		{"part", true, func(n *yaml.Node, at string) { d.oneOf(n, at, &c.Part, "o", "h", "a") }},
		{"vendor", true, func(n *yaml.Node, at string) { d.cpeName(n, at, &c.Vendor) }},
		{"product", true, func(n *yaml.Node, at string) { d.cpeName(n, at, &c.Product) }},
	})
	return &c
}

func (d *decoder) cpeName(n *yaml.Node, at string, dst *string) {
	if s, ok := d.scalar(n, at, "a CPE name"); ok {
		if !cpeName.MatchString(s) {
			d.errorf(n, at, "%q: want NVD's lower-case spelling, letters, digits and ._- only, such as ios_xe", s)
			return
		}
		*dst = s
	}
}

// goarches are the GOARCH values a device may have, with their byte order.
var goarches = map[string]string{
	"386": "little", "amd64": "little", "arm": "little", "arm64": "little",
	"loong64": "little", "mips": "big", "mipsle": "little", "mips64": "big",
	"mips64le": "little", "ppc64": "big", "ppc64le": "little", "riscv64": "little",
	"s390x": "big",
}

var variantPatterns = map[string]*regexp.Regexp{
	"arm":      regexp.MustCompile(`^[567](,(softfloat|hardfloat))?$`),
	"arm64":    regexp.MustCompile(`^v(8\.[0-9]|9\.[0-5])(,(lse|crypto))*$`),
	"amd64":    regexp.MustCompile(`^v[1-4]$`),
	"386":      regexp.MustCompile(`^(sse2|softfloat)$`),
	"mips":     regexp.MustCompile(`^(hardfloat|softfloat)$`),
	"mipsle":   regexp.MustCompile(`^(hardfloat|softfloat)$`),
	"mips64":   regexp.MustCompile(`^(hardfloat|softfloat)$`),
	"mips64le": regexp.MustCompile(`^(hardfloat|softfloat)$`),
	"ppc64":    regexp.MustCompile(`^power(8|9|10)$`),
	"ppc64le":  regexp.MustCompile(`^power(8|9|10)$`),
	"riscv64":  regexp.MustCompile(`^rva2[023]u64$`),
}

func (d *decoder) arch(n *yaml.Node, at string) *Arch {
	var a Arch
	var variantN, endianN *yaml.Node
	d.mapping(n, at, []field{
		{"goarch", true, func(n *yaml.Node, at string) {
			if s, ok := d.scalar(n, at, "a GOARCH"); ok {
				if _, known := goarches[s]; !known {
					d.errorf(n, at, "%q is not a GOARCH a device runs; want one of %s", s, strings.Join(sortedKeys(goarches), ", "))
					return
				}
				a.GOARCH = s
			}
		}},
		{"variant", false, func(n *yaml.Node, at string) { variantN = n; d.str(n, at, &a.Variant) }},
		{"endian", false, func(n *yaml.Node, at string) { endianN = n; d.oneOf(n, at, &a.Endian, "big", "little") }},
	})
	if a.GOARCH == "" {
		return &a
	}
	if a.Variant != "" {
		re := variantPatterns[a.GOARCH]
		switch {
		case re == nil:
			d.errorf(variantN, join(at, "variant"), "GOARCH %s has no variant; remove it", a.GOARCH)
		case !re.MatchString(a.Variant):
			d.errorf(variantN, join(at, "variant"), "%q is not a variant of GOARCH %s (want one matching %s)", a.Variant, a.GOARCH, re)
		}
	}
	order := goarches[a.GOARCH]
	if a.Endian != "" && a.Endian != order {
		d.errorf(endianN, join(at, "endian"), "GOARCH %s is %s-endian; for a %s-endian CPU use the matching GOARCH (mips/mipsle, mips64/mips64le, ppc64/ppc64le)", a.GOARCH, order, a.Endian)
	}
	a.Endian = order
	return &a
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (d *decoder) match(n *yaml.Node, at string) Match {
	var m Match
	given := d.mapping(n, at, []field{
		{"snmp", false, func(n *yaml.Node, at string) { m.SNMP = d.snmpMatch(n, at) }},
		{"device_tree_model", false, func(n *yaml.Node, at string) { d.regex(n, at, -1, &m.DeviceTreeModel) }},
		{"files", false, func(n *yaml.Node, at string) {
			d.list(n, at, func(n *yaml.Node, at string) {
				var f FileMatch
				d.mapping(n, at, []field{
					{"path", true, func(n *yaml.Node, at string) { d.absPath(n, at, &f.Path) }},
					{"regex", true, func(n *yaml.Node, at string) { d.regex(n, at, -1, &f.Regexp) }},
				})
				m.Files = append(m.Files, f)
			})
		}},
		{"usb", false, func(n *yaml.Node, at string) {
			d.list(n, at, func(n *yaml.Node, at string) {
				if id, ok := d.usbID(n, at); ok {
					m.USB = append(m.USB, id)
				}
			})
		}},
	})
	if given != nil && len(given) == 0 {
		d.errorf(n, at, "empty: give at least one of snmp, device_tree_model, files, usb")
	}
	return m
}

var usbPattern = regexp.MustCompile(`^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$`)

func (d *decoder) usbID(n *yaml.Node, at string) (USBID, bool) {
	s, ok := d.scalar(n, at, "a USB id")
	if !ok {
		return USBID{}, false
	}
	m := usbPattern.FindStringSubmatch(s)
	if m == nil {
		d.errorf(n, at, "%q: want VID:PID as four hex digits each, such as 2fe3:0100", s)
		return USBID{}, false
	}
	v, _ := strconv.ParseUint(m[1], 16, 16)
	p, _ := strconv.ParseUint(m[2], 16, 16)
	return USBID{Vendor: uint16(v), Product: uint16(p)}, true
}

func (d *decoder) absPath(n *yaml.Node, at string, dst *string) {
	s, ok := d.scalar(n, at, "an absolute path")
	if !ok {
		return
	}
	if !path.IsAbs(s) || path.Clean(s) != s || s == "/" {
		d.errorf(n, at, "%q: want a clean absolute path to a file, such as /etc/os-release", s)
		return
	}
	*dst = s
}

func (d *decoder) snmpMatch(n *yaml.Node, at string) *SNMPMatch {
	var m SNMPMatch
	given := d.mapping(n, at, []field{
		{"sys_object_id", false, func(n *yaml.Node, at string) {
			each := func(n *yaml.Node, at string) {
				var s string
				if d.oid(n, at, &s); s != "" {
					m.SysObjectID = append(m.SysObjectID, s)
				}
			}
			if n.Kind == yaml.ScalarNode {
				each(n, at)
				return
			}
			if d.list(n, at, each) == 0 && n.Kind == yaml.SequenceNode {
				d.errorf(n, at, "empty list; name at least one prefix")
			}
		}},
		{"sys_descr", false, func(n *yaml.Node, at string) { d.regex(n, at, -1, &m.SysDescr) }},
		{"values", false, func(n *yaml.Node, at string) {
			d.list(n, at, func(n *yaml.Node, at string) {
				if v, ok := d.valueMatch(n, at); ok {
					m.Values = append(m.Values, v)
				}
			})
		}},
	})
	if given != nil && len(given) == 0 {
		d.errorf(n, at, "empty: give sys_object_id, sys_descr or values")
	}
	return &m
}

func (d *decoder) valueMatch(n *yaml.Node, at string) (ValueMatch, bool) {
	var v ValueMatch
	var get, walk string
	given := d.mapping(n, at, []field{
		{"get", false, func(n *yaml.Node, at string) { d.oid(n, at, &get) }},
		{"walk", false, func(n *yaml.Node, at string) { d.oid(n, at, &walk) }},
		{"regex", false, func(n *yaml.Node, at string) { d.regex(n, at, -1, &v.Regexp) }},
	})
	if given == nil {
		return v, false
	}
	switch {
	case given["get"] != nil && given["walk"] != nil:
		d.errorf(n, at, "give either get (an instance OID) or walk (a column OID), not both")
		return v, false
	case get != "":
		v.OID = get
		return v, d.readable(given["get"], join(at, "get"), get, false)
	case walk != "":
		v.OID, v.Walk = walk, true
		return v, d.readable(given["walk"], join(at, "walk"), walk, true)
	case given["get"] == nil && given["walk"] == nil:
		d.errorf(n, at, "give get (an instance OID) or walk (a column OID)")
	}
	return v, false
}

// neighbourTables hold what other devices told this one about themselves
// (their sysDescr, their software version): reading them would attribute
// a neighbour's firmware to this device.
var neighbourTables = []struct{ oid, name string }{
	{"1.0.8802.1.1.2.1.4", "LLDP-MIB lldpRemoteSystemsData"},
	{"1.3.111.2.802.1.1.13.1.4", "LLDP-V2-MIB lldpV2RemoteSystemsData"},
	{"1.3.6.1.4.1.9.9.23.1.2", "CISCO-CDP-MIB cdpCache"},
}

// minWalkArcs keeps walks to table columns: 1.3.6.1.2.1.47.1.1.1.1.10
// (entPhysicalSoftwareRev) has 12, a vendor's whole subtree has 7.
const minWalkArcs = 9

// readable rejects OIDs that must never be read for identification.
func (d *decoder) readable(n *yaml.Node, at, oid string, walk bool) bool {
	for _, t := range neighbourTables {
		if under(oid, t.oid) || walk && under(t.oid, oid) {
			d.errorf(n, at, "%s reaches into %s (%s), which holds neighbours' data, not this device's", oid, t.name, t.oid)
			return false
		}
	}
	if walk && arcs(oid) < minWalkArcs {
		d.errorf(n, at, "%s is a subtree of %d sub-identifiers; walk one table column (at least %d), such as 1.3.6.1.2.1.47.1.1.1.1.10", oid, arcs(oid), minWalkArcs)
		return false
	}
	return true
}
