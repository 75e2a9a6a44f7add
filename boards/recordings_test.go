package boards_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"patchbay.dev/boards"
	"patchbay.dev/testbench/snmprec"
)

// snmprecDirEnv names the directory of real SNMP recordings; the default
// is the shared test data beside the checkout, read in place.
const snmprecDirEnv = "PATCHBAY_SNMPREC_DIR"

// defaultSnmprecDir is relative to this package's directory (boards/, one
// below the module root): the module root's sibling ../shared.
const defaultSnmprecDir = "../../shared/testdata/snmprec"

// recordingTests is what each of the real recordings (LibreNMS
// tests/snmpsim, see the directory's INDEX.md) must be identified as.
// librenms is LibreNMS's version for the same recording, a cross-check;
// where ours differs, why says which source the profile trusts and why.
var recordingTests = []struct {
	file     string
	id       string
	vendor   string // "" for generic profiles
	version  string
	librenms string
	why      string
}{
	{"ios_2960x", "cisco-ios", "Cisco", "15.0(2a)EX5", "15.0(2a)EX5", "sysDescr is hex-encoded, multi-line; 7 CDP rows hold neighbours' versions"},
	{"ios_c3560", "cisco-ios", "Cisco", "12.2(55)SE12", "12.2(55)SE12", "sysDescr wrapped in literal quotes"},
	{"iosxe_c9300", "cisco-iosxe", "Cisco", "16.6.7", "CAT9K_IOSXE 16.6.7", "the release without the image name, as advisories name it"},
	{"ciscosb_cbs350", "cisco-sb-switch", "Cisco", "3.0.0.61", "Software 3.0.0.61, Firmware 3.0.0.23", "software revision only; the firmware revision is the boot code"},
	{"routeros_rb5009upr+s+", "mikrotik-routeros", "MikroTik", "7.20.6", "7.20.6", ""},
	{"swos_css326-24g-2s+", "mikrotik-swos", "MikroTik", "2.18", "2.18", ""},
	{"edgeswitch_es-24-250w", "ubiquiti-edgeswitch", "Ubiquiti", "1.8.0.5106045", "1.8.0.5106045", "Broadcom FASTPATH sysObjectID; sysDescr says EdgeSwitch"},
	{"edgeos", "ubiquiti-edgeos", "Ubiquiti", "1.8.0", "1.8.0", "entPhysicalSoftwareRev 1.2.0 is not EdgeOS"},
	{"unifi_nanohd", "ubiquiti-unifi-ap", "Ubiquiti", "5.43.36.12724", "5.43.36.12724", "net-snmp sysObjectID; UBNT-UniFi-MIB decides"},
	{"procurve_e2910", "hpe-procurve", "HPE", "W.15.08.0012", "W.15.08.0012", "2 LLDP rows hold neighbours' versions"},
	{"arubaos-cx_10.10", "hpe-aruba-aoscx", "HPE Aruba", "PL.10.10.0002", "PL.10.10.0002", "3 LLDP rows hold neighbours' versions"},
	{"junos_ex", "juniper-junos", "Juniper", "15.1X53-D59.4", "15.1X53-D59.4", ""},
	{"netgear", "netgear-smart-switch", "NETGEAR", "6.3.1.11", "6.3.1.11", "B1.0.0.4 in sysDescr is the boot code"},
	{"jetstream_t2600g-28ts", "tplink-jetstream", "TP-Link", "3.0.3 Build 20181101 Rel.42543(s)", "3.0.3 Build 20181101 Rel.42543(s)", ""},
	{"dlink_dgs-1510-28", "dlink-dgs-1510", "D-Link", "1.50.021", "1.50.021", "1 LLDP row holds a neighbour's version"},
	{"zynos_gs1900-fdb", "zyxel-gs1900", "Zyxel", "V2.40(AAHN.0)", "V2.40(AAHN.0)", "vendor OID over entPhysicalSoftwareRev 2.10.68857, an internal build"},
	{"fortigate_60f", "fortinet-fortigate", "Fortinet", "v7.2.6,build1575,230926 (GA.F)", "v7.2.6,build1575,230926 (GA.F)", "empty sysDescr"},
	{"openwrt", "openwrt-mvebu-linksys-wrt", "Linksys (OpenWrt)", "21.02.0-rc4", "21.02.0-rc4", "net-snmp sysObjectID, kernel-only sysDescr; distro extend decides"},
	{"linux", "linux-net-snmp", "", "4.9.0", "4.9.0", "generic: the kernel release"},
	{"rutos-rutx_rut955", "teltonika-rut9", "Teltonika", "RUT9_R_00.07.06.18", "RUT9_R_00.07.06.18", "net-snmp sysObjectID, kernel-only sysDescr; Teltonika MIB decides"},
	{"moxa-etherdevice_eds510e", "moxa-eds-510e", "Moxa", "V6.4  build 25021113", "V6.4  build 25021113", ""},
	{"apc_smt750x-nmc2", "apc-nmc2", "APC", "v7.0.8", "AOS v7.0.8 / App v7.0.8", "the card's AOS; LibreNMS joins AOS and App, both v7.0.8"},
}

// snmprecDir finds the recordings or fails the test saying how to.
func snmprecDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(snmprecDirEnv)
	if dir == "" {
		dir = defaultSnmprecDir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(abs); err != nil || !info.IsDir() {
		t.Fatalf("no SNMP recordings at %s (%v): check out ../shared beside the repository, "+
			"or set %s to a directory of .snmprec files (LibreNMS tests/snmpsim)", abs, err, snmprecDirEnv)
	}
	return abs
}

func TestRealRecordings(t *testing.T) {
	dir := snmprecDir(t)
	set, err := boards.Load()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.snmprec"))
	if err != nil {
		t.Fatal(err)
	}
	var covered []string
	right, wrong := 0, 0
	for _, tt := range recordingTests {
		covered = append(covered, tt.file)
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(dir, tt.file+".snmprec")
			if !slices.Contains(files, path) {
				t.Fatalf("recording %s is missing from %s", tt.file+".snmprec", dir)
			}
			rec, err := snmprec.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			id, err := boards.Identify(t.Context(), rec, set)
			if err != nil {
				t.Fatal(err)
			}
			if id.Profile == nil {
				t.Fatalf("Identify(%s) = %s, want %s", tt.file, id, tt.id)
			}
			if id.Profile.ID != tt.id || id.Profile.Vendor != tt.vendor {
				wrong++
				t.Fatalf("Identify(%s) = %s (vendor %q), want %s (vendor %q); MISIDENTIFIED; candidates %v",
					tt.file, id.Profile.ID, id.Profile.Vendor, tt.id, tt.vendor, id.Candidates)
			}
			if id.Version != tt.version {
				t.Fatalf("Identify(%s).Version = %q (from %s, problems: %v), want %q (LibreNMS: %q)",
					tt.file, id.Version, id.VersionSource, id.VersionErr, tt.version, tt.librenms)
			}
			if err := id.Profile.Version.Scheme.Valid(id.Version); err != nil {
				t.Fatalf("version %q does not fit the profile's scheme: %v", id.Version, err)
			}
			right++
			t.Logf("%s: %s from %s", tt.file, id, id.VersionSource)
		})
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".snmprec")
		if !slices.Contains(covered, name) {
			t.Errorf("recording %s has no expected identification in recordingTests", name)
		}
	}
	t.Logf("%d/%d identified with the right version, %d misidentified", right, len(recordingTests), wrong)
	if wrong > 0 {
		t.Errorf("%d recordings misidentified", wrong)
	}
}

// TestRealRecordingsEverySourceAgrees reads each recording with every
// SNMP version source of its profile on its own: a fallback that yields a
// version must yield the same one, so a device that lacks the first source
// is not reported with a different version.
func TestRealRecordingsEverySourceAgrees(t *testing.T) {
	dir := snmprecDir(t)
	set, err := boards.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range recordingTests {
		t.Run(tt.file, func(t *testing.T) {
			rec, err := snmprec.ReadFile(filepath.Join(dir, tt.file+".snmprec"))
			if err != nil {
				t.Fatal(err)
			}
			p, ok := set.Lookup(tt.id)
			if !ok {
				t.Fatalf("no profile %s", tt.id)
			}
			for _, src := range p.Version.Sources {
				if src.Kind != boards.SourceSNMPGet && src.Kind != boards.SourceSNMPWalk {
					continue
				}
				one := *p
				one.Version.Sources = []boards.Source{src}
				single, err := boards.NewSet(&one)
				if err != nil {
					t.Fatal(err)
				}
				id, err := boards.Identify(t.Context(), rec, single)
				if err != nil {
					t.Fatal(err)
				}
				if id.Profile == nil {
					t.Fatalf("%s alone does not identify %s: %s", tt.id, tt.file, id)
				}
				if id.Version != "" && id.Version != tt.version {
					t.Errorf("source %s alone reads %q, want %q or nothing", src, id.Version, tt.version)
				}
			}
		})
	}
}
