package boards_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/boards"
)

func TestEmbeddedProfilesLoad(t *testing.T) {
	set, err := boards.Load()
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	files, err := filepath.Glob("profiles/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != len(files) {
		t.Errorf("Load() has %d profiles, want one per file in profiles/ (%d)", set.Len(), len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := boards.ParseProfile(f, data)
		if err != nil {
			t.Errorf("ParseProfile(%s) = %v", f, err)
			continue
		}
		if want := strings.TrimSuffix(filepath.Base(f), ".yaml"); p.ID != want {
			t.Errorf("%s has id %q, want the file's name %q", f, p.ID, want)
		}
	}
}

// TestEmbeddedFacts pins the board facts the shipped profiles must get
// right (each is cited in its profile's comments).
func TestEmbeddedFacts(t *testing.T) {
	set, err := boards.Load()
	if err != nil {
		t.Fatal(err)
	}
	type facts struct {
		Arch     *boards.Arch
		Loader   boards.Loader
		Env      *boards.UBootEnv
		SlotVar  string
		Slots    []string
		Reboot   boards.RebootMethod
		CPE      string
		USB      []string
		Generic  bool
		Checks   map[string]time.Duration
		SNMPOIDs []string
	}
	get := func(id string) facts {
		p, ok := set.Lookup(id)
		if !ok {
			t.Fatalf("no profile %s", id)
		}
		f := facts{Arch: p.Arch, Loader: p.Boot.Loader, Env: p.Boot.UBootEnv, SlotVar: p.Boot.SlotVariable,
			Reboot: p.Reboot.Method, Generic: p.Generic}
		for _, s := range p.Boot.Slots {
			f.Slots = append(f.Slots, s.Name+"="+s.Value)
		}
		if p.CPE != nil {
			f.CPE = p.CPE.Prefix()
		}
		for _, u := range p.Match.USB {
			f.USB = append(f.USB, u.String())
		}
		if len(p.Health) > 0 {
			f.Checks = map[string]time.Duration{}
			for _, h := range p.Health {
				f.Checks[h.Name] = h.Timeout
			}
		}
		if p.Match.SNMP != nil {
			f.SNMPOIDs = p.Match.SNMP.SysObjectID
		}
		return f
	}
	tests := []struct {
		id   string
		want facts
	}{
		{"openwrt-ath79-generic", facts{
			Arch:    &boards.Arch{GOARCH: "mips", Variant: "softfloat", Endian: "big"},
			Loader:  boards.LoaderUBoot,
			Env:     &boards.UBootEnv{Size: 0x10000, Copies: []boards.EnvCopy{{Device: "mtd:u-boot-env", SectorSize: 0x10000}}},
			SlotVar: "patchbay_slot", Slots: []string{"A=A", "B=B"},
			Reboot: boards.RebootCommand, CPE: "cpe:2.3:o:openwrt:openwrt",
			Checks: map[string]time.Duration{"ubus": 30 * time.Second, "gateway-roundtrip": 2 * time.Minute},
		}},
		{"openwrt-mvebu-linksys-wrt", facts{
			Arch:    &boards.Arch{GOARCH: "arm", Variant: "7", Endian: "little"},
			Loader:  boards.LoaderUBoot,
			Env:     &boards.UBootEnv{Size: 0x20000, Copies: []boards.EnvCopy{{Device: "/dev/mtd1", SectorSize: 0x40000}}},
			SlotVar: "boot_part", Slots: []string{"1=1", "2=2"},
			Reboot: boards.RebootCommand, CPE: "cpe:2.3:o:openwrt:openwrt",
			Checks:   map[string]time.Duration{"ubus": 30 * time.Second, "gateway-roundtrip": 2 * time.Minute},
			SNMPOIDs: []string{"1.3.6.1.4.1.8072.3.2.10"},
		}},
		{"rpi-arm64-gateway", facts{
			Arch:    &boards.Arch{GOARCH: "arm64", Variant: "v8.0", Endian: "little"},
			Loader:  boards.LoaderUBoot,
			Env:     &boards.UBootEnv{Size: 0x4000, Copies: []boards.EnvCopy{{Device: "/boot/firmware/uboot.env"}}},
			SlotVar: "patchbay_slot", Slots: []string{"A=A", "B=B"},
			Reboot: boards.RebootCommand,
			Checks: map[string]time.Duration{"system-running": 3 * time.Minute, "gateway-roundtrip": 2 * time.Minute},
		}},
		{"zephyr-mcuboot-smp", facts{
			Loader: boards.LoaderMCUboot, Slots: []string{"primary=0", "secondary=1"},
			Reboot: boards.RebootMCUbootReset, USB: []string{"2fe3:0100", "2fe3:0001"},
		}},
		{"cisco-ios", facts{Loader: boards.LoaderNone, Reboot: boards.RebootNone, CPE: "cpe:2.3:o:cisco:ios", SNMPOIDs: []string{"1.3.6.1.4.1.9.1"}}},
		{"cisco-iosxe", facts{Loader: boards.LoaderNone, Reboot: boards.RebootNone, CPE: "cpe:2.3:o:cisco:ios_xe", SNMPOIDs: []string{"1.3.6.1.4.1.9.1"}}},
		{"mikrotik-routeros", facts{Loader: boards.LoaderNone, Reboot: boards.RebootNone, CPE: "cpe:2.3:o:mikrotik:routeros", SNMPOIDs: []string{"1.3.6.1.4.1.14988.1"}}},
		{"linux-net-snmp", facts{Loader: boards.LoaderNone, Reboot: boards.RebootNone, CPE: "cpe:2.3:o:linux:linux_kernel", Generic: true, SNMPOIDs: []string{"1.3.6.1.4.1.8072.3.2.10"}}},
		{"generic-entity-mib", facts{Loader: boards.LoaderNone, Reboot: boards.RebootNone, Generic: true}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, get(tt.id)); diff != "" {
				t.Errorf("profile %s mismatch (-want +got):\n%s", tt.id, diff)
			}
		})
	}
	for _, p := range set.Profiles() {
		if p.Generic && p.Model != "" || !p.Generic && (p.Vendor == "" || p.Model == "") {
			t.Errorf("%s: generic %t with vendor %q, model %q", p.ID, p.Generic, p.Vendor, p.Model)
		}
	}
}

// valid is a profile that loads; the error cases below break it.
const valid = `id: acme-router
vendor: Acme
model: R1
match:
  snmp:
    sys_object_id: [1.3.6.1.4.1.99999.1]
version:
  scheme: dotted
  sources:
    - kind: snmp-get
      oid: 1.3.6.1.4.1.99999.2.1.0
`

// profileErrorTests is shared by TestProfileErrors and FuzzParseProfile.
var profileErrorTests = []struct {
	name string
	yaml string
	want []string // substrings of the error, each naming file:line: field
}{
	{"unknown top-level field", valid + "colour: red\n", []string{"p.yaml:12: colour: unknown field in profile (known fields: id, vendor, model"}},
	{"unknown nested field", strings.Replace(valid, "oid:", "oidd:", 1), []string{
		"p.yaml:11: version.sources[0].oidd: unknown field in version.sources[0] (known fields: kind, oid, path",
		"p.yaml:10: version.sources[0].oid: required for kind snmp-get (it takes oid, regex)"}},
	{"missing id", strings.Replace(valid, "id: acme-router\n", "", 1), []string{"p.yaml:1: id: required field is missing"}},
	{"empty id", strings.Replace(valid, "id: acme-router", `id: ""`, 1), []string{`p.yaml:1: id: "" is not an id: want lower-case letters, digits and '-'`}},
	{"upper-case id", strings.Replace(valid, "id: acme-router", "id: Acme_Router", 1), []string{`p.yaml:1: id: "Acme_Router" is not an id`}},
	{"bad regex", strings.Replace(valid, "      oid: 1.3.6.1.4.1.99999.2.1.0\n", "      oid: 1.3.6.1.4.1.99999.2.1.0\n      regex: 'Version ((\\d+'\n", 1), []string{
		"p.yaml:12: version.sources[0].regex: bad regular expression (Go RE2 syntax): error parsing regexp: missing closing )"}},
	{"regex without a group", valid + "      regex: 'Version \\d+'\n", []string{
		`p.yaml:12: version.sources[0].regex: "Version \\d+" has 0 capture groups, want exactly 1 around the version`}},
	{"unknown scheme", strings.Replace(valid, "scheme: dotted", "scheme: calver", 1), []string{
		`p.yaml:8: version.scheme: unknown version scheme "calver": want semver, dotted, or {kind: regex, pattern: …}`}},
	{"regex scheme without pattern", strings.Replace(valid, "scheme: dotted", "scheme: regex", 1), []string{
		"p.yaml:8: version.scheme: kind regex needs a pattern"}},
	{"regex scheme without groups", strings.Replace(valid, "scheme: dotted", "scheme: {kind: regex, pattern: 'v\\d+'}", 1), []string{
		"p.yaml:8: version.scheme: version scheme regex: pattern \"v\\\\d+\" has no capture groups"}},
	{"walk into LLDP", strings.Replace(valid, "kind: snmp-get\n      oid: 1.3.6.1.4.1.99999.2.1.0", "kind: snmp-walk\n      oid: 1.0.8802.1.1.2.1.4.1.1.10\n      regex: '(.+)'", 1), []string{
		"p.yaml:11: version.sources[0].oid: 1.0.8802.1.1.2.1.4.1.1.10 reaches into LLDP-MIB lldpRemoteSystemsData"}},
	{"walk above CDP", strings.Replace(valid, "kind: snmp-get\n      oid: 1.3.6.1.4.1.99999.2.1.0", "kind: snmp-walk\n      oid: 1.3.6.1.4.1.9.9.23\n      regex: '(.+)'", 1), []string{
		"p.yaml:11: version.sources[0].oid: 1.3.6.1.4.1.9.9.23 reaches into CISCO-CDP-MIB cdpCache"}},
	{"walk of a whole subtree", strings.Replace(valid, "kind: snmp-get\n      oid: 1.3.6.1.4.1.99999.2.1.0", "kind: snmp-walk\n      oid: 1.3.6.1.4.1.99999\n      regex: '(.+)'", 1), []string{
		"p.yaml:11: version.sources[0].oid: 1.3.6.1.4.1.99999 is a subtree of 7 sub-identifiers; walk one table column"}},
	{"MIB name for an OID", strings.Replace(valid, "[1.3.6.1.4.1.99999.1]", "[SNMPv2-SMI::enterprises.99999]", 1), []string{
		"p.yaml:6: match.snmp.sys_object_id[0]: OID \"SNMPv2-SMI::enterprises.99999\""}},
	{"leading dot", strings.Replace(valid, "[1.3.6.1.4.1.99999.1]", "[.1.3.6.1.4.1.99999.1]", 1), []string{"write it without the leading dot"}},
	{"wrong type", valid + "priority: high\n", []string{`p.yaml:12: priority: want a whole number from -1000 to 1000 (0x… allowed), found "high"`}},
	{"field given twice", valid + "vendor: Other\n", []string{"p.yaml:12: vendor: given twice (first on line 2)"}},
	{"generic with model", strings.Replace(valid, "model: R1", "model: R1\ngeneric: true", 1), []string{
		"p.yaml:3: model: a generic profile claims no model; remove model or set generic: false"}},
	{"vendor profile without sysObjectID", strings.Replace(valid, "    sys_object_id: [1.3.6.1.4.1.99999.1]", "    sys_descr: '^Acme'", 1), []string{
		"p.yaml:5: match.snmp.sys_object_id: a profile that is not generic must name its vendor's sysObjectID prefix(es)"}},
	{"no source for the match", strings.Replace(valid, "  snmp:\n    sys_object_id: [1.3.6.1.4.1.99999.1]", "  usb: ['2fe3:0100']", 1), []string{
		"p.yaml:5: match.usb: matched over USB serial but version.sources has no smp or console source"}},
	{"empty match", strings.Replace(valid, "  snmp:\n    sys_object_id: [1.3.6.1.4.1.99999.1]\n", "  {}\n", 1), []string{
		"p.yaml:5: match: empty: give at least one of snmp, device_tree_model, files, usb"}},
	{"bad usb id", strings.Replace(valid, "  snmp:\n    sys_object_id: [1.3.6.1.4.1.99999.1]", "  usb: ['2fe3-100']\n  snmp:\n    sys_object_id: [1.3.6.1.4.1.99999.1]", 1), []string{
		`p.yaml:5: match.usb[0]: "2fe3-100": want VID:PID as four hex digits each`}},
	{"field of another source kind", valid + "      path: /etc/os-release\n", []string{
		"p.yaml:12: version.sources[0].path: not used by kind snmp-get (it takes oid, regex)"}},
	{"unknown source kind", strings.Replace(valid, "kind: snmp-get", "kind: telnet", 1), []string{
		`p.yaml:10: version.sources[0].kind: "telnet" is not one of snmp-get, snmp-walk, console, smp, file`}},
	{"endian contradicts goarch", valid + "arch: {goarch: mips, endian: little}\n", []string{
		"p.yaml:12: arch.endian: GOARCH mips is big-endian; for a little-endian CPU use the matching GOARCH"}},
	{"bad variant", valid + "arch: {goarch: arm, variant: v7}\n", []string{`p.yaml:12: arch.variant: "v7" is not a variant of GOARCH arm`}},
	{"unknown goarch", valid + "arch: {goarch: xtensa}\n", []string{`p.yaml:12: arch.goarch: "xtensa" is not a GOARCH a device runs`}},
	{"redundant with one copy", valid + `boot:
  loader: u-boot
  uboot_env:
    size: 0x10000
    redundant: true
    copies: [{device: /dev/mtd1, offset: 0x0, sector_size: 0x10000}]
  slot_variable: slot
  slots:
    - {name: A, value: a, devices: {rootfs: /dev/mmcblk0p2}}
    - {name: B, value: b, devices: {rootfs: /dev/mmcblk0p3}}
`, []string{"p.yaml:17: boot.uboot_env.copies: redundant: true needs 2 copies, found 1"}},
	{"offset off an erase block", valid + `boot:
  loader: u-boot
  uboot_env:
    size: 0x10000
    copies: [{device: /dev/mtd1, offset: 0x8000, sector_size: 0x10000}]
  slot_variable: slot
  slots:
    - {name: A, value: a, devices: {rootfs: /dev/mmcblk0p2}}
    - {name: B, value: a, devices: {rootfs: relative}}
`, []string{
		"p.yaml:16: boot.uboot_env.copies[0].offset: 0x8000 is not on an erase block boundary of 0x10000",
		`p.yaml:18: boot.slots: both slots have value "a"`,
		`p.yaml:18: boot.slots[1].devices.rootfs: "relative": want an absolute device path or mtd:NAME`}},
	{"u-boot without its fields", valid + "boot: {loader: u-boot}\n", []string{
		"p.yaml:12: boot.uboot_env: loader u-boot needs the environment's place",
		"p.yaml:12: boot.slot_variable: loader u-boot needs the variable that selects the slot",
		"p.yaml:12: boot.slots: loader u-boot needs two slots"}},
	{"mcuboot reset without mcuboot", valid + "reboot: {method: mcuboot-reset}\n", []string{
		"p.yaml:12: reboot.method: mcuboot-reset needs boot.loader: mcuboot (found none)"}},
	{"command reboot without a command", valid + "reboot: {method: command}\n", []string{
		"p.yaml:12: reboot.command: method command needs the command as a list"}},
	{"bad health checks", valid + `health:
  - {name: web, kind: http, timeout: "30"}
  - {name: web, kind: command, command: [true], url: "http://x/", timeout: 20m}
`, []string{
		`p.yaml:13: health[0].timeout: want a duration above 0 and at most 10m0s, such as "30s" or "2m", found "30"`,
		"p.yaml:13: health[0].url: kind http needs a url",
		`p.yaml:14: health[1].name: another check is already named "web"`,
		"p.yaml:14: health[1].url: only kind http takes url",
		`p.yaml:14: health[1].timeout: want a duration above 0 and at most 10m0s`}},
	{"alias", valid + "description: &d text\nvendor_note: *d\n", []string{"p.yaml:13: vendor_note: unknown field"}},
	{"alias as a value", strings.Replace(valid, "scheme: dotted", "scheme: &s dotted\n  other: *s", 1), []string{"p.yaml:9: version.other: unknown field"}},
	{"alias where a value goes", valid + "description: &d text\npriority: *d\n", []string{
		"p.yaml:13: priority: YAML anchors and aliases are not supported in profiles"}},
	{"two documents", valid + "---\nid: other\n", []string{"p.yaml:12: a second YAML document; put one profile in each file"}},
	{"empty file", "", []string{"p.yaml: empty file; want one profile, a mapping starting with id:"}},
	{"not a mapping", "- id: x\n", []string{"p.yaml:1: want a mapping with keys id, vendor, model"}},
	{"bad YAML", valid + "vendor: [unclosed\n", []string{"p.yaml:", "bad YAML: line"}},
	{"tab indentation", "id: x\n\tvendor: y\n", []string{"p.yaml:2: bad YAML:"}},
}

func TestProfileErrors(t *testing.T) {
	for _, tt := range profileErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := boards.ParseProfile("p.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("ParseProfile() = %s, want errors %q", p.ID, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ParseProfile() error =\n%v\nwant it to contain %q", err, w)
				}
			}
			var pe *boards.ProfileError
			if !errors.As(err, &pe) || pe.File != "p.yaml" {
				t.Errorf("ParseProfile() error = %#v, want *ProfileError for p.yaml", err)
			}
		})
	}
}

func TestValidProfileLoads(t *testing.T) {
	p, err := boards.ParseProfile("p.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != "p.yaml:1" || p.Boot.Loader != boards.LoaderNone || p.Reboot.Method != boards.RebootNone {
		t.Errorf("ParseProfile() = source %q, loader %q, reboot %q; want p.yaml:1, none, none", p.Source, p.Boot.Loader, p.Reboot.Method)
	}
}

func writeProfile(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadBrokenProfileNamesFileLineField(t *testing.T) {
	dir := t.TempDir()
	writeProfile(t, dir, "acme.yaml", strings.Replace(valid, "scheme: dotted", "scheme: calver", 1))
	writeProfile(t, dir, "other.yml", strings.Replace(valid, "id: acme-router", "id: acme-switch", 1)+"speed: fast\n")
	writeProfile(t, dir, "README.md", "not a profile")
	_, err := boards.Load(dir)
	if err == nil {
		t.Fatal("Load() = nil error, want the broken profiles' errors")
	}
	for _, want := range []string{
		filepath.Join(dir, "acme.yaml") + `:8: version.scheme: unknown version scheme "calver"`,
		filepath.Join(dir, "other.yml") + ":12: speed: unknown field in profile",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Load() error =\n%v\nwant it to contain %q", err, want)
		}
	}
	var pe *boards.ProfileError
	if !errors.As(err, &pe) || pe.Line == 0 || pe.Field == "" {
		t.Errorf("Load() error = %#v, want a *ProfileError with line and field", err)
	}
}

func TestLoadOverrideByID(t *testing.T) {
	embedded, err := boards.Load()
	if err != nil {
		t.Fatal(err)
	}
	first, second := t.TempDir(), t.TempDir()
	// An operator's own Cisco IOS profile, and a new board.
	ios := strings.NewReplacer("id: acme-router", "id: cisco-ios", "vendor: Acme", "vendor: Cisco", "model: R1", "model: lab switches").Replace(valid)
	writeProfile(t, first, "ios.yaml", ios)
	writeProfile(t, first, "acme.yaml", valid)
	// A later directory overrides the earlier one.
	writeProfile(t, second, "acme-v2.yaml", strings.Replace(valid, "model: R1", "model: R2", 1))

	set, err := boards.Load(first, second)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.Len(), embedded.Len()+1; got != want {
		t.Errorf("Load() has %d profiles, want %d (embedded plus one new)", got, want)
	}
	p, _ := set.Lookup("cisco-ios")
	if p.Model != "lab switches" || p.Source != filepath.Join(first, "ios.yaml")+":1" || p.Overrides != "embedded:profiles/cisco-ios.yaml:5" {
		t.Errorf("cisco-ios = model %q from %s overriding %q; want the operator's from %s overriding the embedded one",
			p.Model, p.Source, p.Overrides, first)
	}
	a, _ := set.Lookup("acme-router")
	if a.Model != "R2" || a.Overrides != filepath.Join(first, "acme.yaml")+":1" {
		t.Errorf("acme-router = model %q overriding %q, want R2 overriding %s", a.Model, a.Overrides, first)
	}
}

func TestLoadDuplicateIDInOneDirectory(t *testing.T) {
	dir := t.TempDir()
	writeProfile(t, dir, "a.yaml", valid)
	writeProfile(t, dir, "b.yaml", valid)
	_, err := boards.Load(dir)
	want := filepath.Join(dir, "b.yaml") + `:1: id: "acme-router" is already the id of ` + filepath.Join(dir, "a.yaml") + ":1"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load() error = %v, want %q", err, want)
	}
}

func TestLoadMissingDirectory(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	_, err := boards.Load(missing)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(%s) error = %v, want fs.ErrNotExist", missing, err)
	}
}

func TestLoadTooLarge(t *testing.T) {
	dir := t.TempDir()
	writeProfile(t, dir, "big.yaml", valid+"description: "+strings.Repeat("x", 300<<10)+"\n")
	_, err := boards.Load(dir)
	if err == nil || !strings.Contains(err.Error(), "big.yaml: larger than 256 KiB") {
		t.Errorf("Load() error = %v, want big.yaml too large", err)
	}
}
