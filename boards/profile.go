package boards

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"patchbay.dev/firmware/version"
)

// Profile is what Patchbay knows about one kind of device: how to
// recognise it, how to read its firmware version, how its firmware is laid
// out and switched, and how to tell that an update worked. Profiles come
// from YAML (see the package documentation for the schema) and are valid
// by construction: every Profile a Set holds passed the loader's checks.
type Profile struct {
	// ID names the profile in target metadata ("boards: [...]"); lower-case
	// letters, digits and '-'.
	ID     string
	Vendor string // who makes it; empty only for generic profiles
	Model  string // which models or family; empty for generic profiles
	// Description is free text for people.
	Description string
	// Generic marks a fallback that fits many kinds of device and claims
	// no model. Identification prefers any matching non-generic profile.
	Generic bool
	// Priority breaks ties between profiles that match equally well;
	// higher wins. See Identify.
	Priority int

	CPE     *CPE  // nil: no NVD name known
	Arch    *Arch // nil: the agent does not run on it (network-only)
	Match   Match
	Version Version
	Boot    Boot
	Reboot  Reboot
	Health  []HealthCheck

	// Source is "file:line" of the profile, for messages.
	Source string
	// Overrides is the Source of the profile this one replaced by ID, if
	// it came from an operator directory.
	Overrides string
}

// CPE is the part, vendor and product of the profile's CPE 2.3 name, as
// NVD spells them.
type CPE struct {
	Part    string // "o" operating system/firmware, "h" hardware, "a" application
	Vendor  string
	Product string
}

// Prefix renders "cpe:2.3:part:vendor:product"; the version and the
// other attributes are for whoever matches vulnerabilities to add.
func (c CPE) Prefix() string {
	return "cpe:2.3:" + c.Part + ":" + c.Vendor + ":" + c.Product
}

// Arch is the Go target the agent is built for on the device.
type Arch struct {
	GOARCH string // "mips", "arm", "arm64", …
	// Variant is the GOARCH-specific level: GOMIPS (hardfloat, softfloat)
	// for mips*, GOARM (5, 6, 7 and optionally ",softfloat") for arm,
	// GOARM64 (v8.0 …) for arm64, GOAMD64 (v1 … v4) for amd64, GO386.
	// Empty: Go's default.
	Variant string
	Endian  string // "big" or "little"; follows from GOARCH
}

// Match says how to recognise the device. Each identification path uses
// its own part: SNMP for neighbours, DeviceTreeModel and Files for the
// device the agent runs on, USB for serial-attached devices. Within a
// part every given condition must hold.
type Match struct {
	SNMP            *SNMPMatch
	DeviceTreeModel *regexp.Regexp // /proc/device-tree/model, NULs trimmed
	Files           []FileMatch
	USB             []USBID
}

// local reports whether the profile can be matched on the device itself.
func (m Match) local() bool { return m.DeviceTreeModel != nil || len(m.Files) > 0 }

// SNMPMatch recognises a device over SNMP.
type SNMPMatch struct {
	// SysObjectID lists sysObjectID prefixes, any of which may match, on
	// sub-identifier boundaries ("1.3.6.1.4.1.9.1" matches
	// "1.3.6.1.4.1.9.1.1208", not "1.3.6.1.4.1.9.10"). Required unless
	// the profile is generic.
	SysObjectID []string
	// SysDescr must match sysDescr (with wrapping quotes stripped).
	SysDescr *regexp.Regexp
	// Values must all hold.
	Values []ValueMatch
}

// ValueMatch requires an SNMP value: the instance OID (Walk false) or some
// row of the column OID (Walk true) must exist, be non-empty, and match
// Regexp if given.
type ValueMatch struct {
	OID    string
	Walk   bool
	Regexp *regexp.Regexp
}

// FileMatch requires a local file whose content matches Regexp.
type FileMatch struct {
	Path   string // absolute, e.g. /etc/openwrt_release
	Regexp *regexp.Regexp
}

// USBID is a USB vendor and product id, written "2fe3:0100".
type USBID struct {
	Vendor, Product uint16
}

func (u USBID) String() string { return fmt.Sprintf("%04x:%04x", u.Vendor, u.Product) }

// Version says how the firmware version is read and ordered.
type Version struct {
	// Scheme orders versions; it is compiled.
	Scheme version.Scheme
	// Sources are tried in order; the first that yields a version valid
	// under Scheme wins. Each identification path uses the kinds it can
	// read (SNMP, local files, serial) and skips the others.
	Sources []Source
}

// SourceKind names a kind of version source. Values are persisted in
// profiles.
type SourceKind string

// The source kinds.
const (
	SourceSNMPGet  SourceKind = "snmp-get"  // OID, optional Regexp
	SourceSNMPWalk SourceKind = "snmp-walk" // column OID, Regexp over its first non-empty row
	SourceConsole  SourceKind = "console"   // Command at Prompt, Regexp over the output
	SourceSMP      SourceKind = "smp"       // SMP image list: the active slot of Image
	SourceFile     SourceKind = "file"      // Path, Regexp over the content
)

// Source is one place a firmware version can be read from.
type Source struct {
	Kind    SourceKind
	OID     string
	Path    string
	Command string
	Prompt  string
	Image   int
	// Regexp has exactly one capture group, the version. Nil (snmp-get and
	// smp only): the whole value, trimmed, is the version.
	Regexp *regexp.Regexp
}

func (s Source) String() string {
	switch s.Kind {
	case SourceSNMPGet, SourceSNMPWalk:
		return string(s.Kind) + " " + s.OID
	case SourceFile:
		return "file " + s.Path
	case SourceConsole:
		return fmt.Sprintf("console %q", s.Command)
	case SourceSMP:
		return fmt.Sprintf("smp image %d", s.Image)
	}
	return string(s.Kind)
}

// ErrNoVersion is wrapped by errors about a value from which no version
// could be read.
var ErrNoVersion = errors.New("no version found")

// Extract reads the version out of text the source produced: a value read
// over SNMP, a file's content, a console command's output, an SMP image
// version. Text is cleaned first: surrounding white space and one pair of
// wrapping '"' quotes are removed.
func (s Source) Extract(text string) (string, error) {
	text = CleanText(text)
	if s.Regexp == nil {
		if text == "" {
			return "", fmt.Errorf("%s: %w: empty value", s, ErrNoVersion)
		}
		return text, nil
	}
	m := s.Regexp.FindStringSubmatch(text)
	if m == nil {
		return "", fmt.Errorf("%s: %w: %q does not match %q", s, ErrNoVersion, abbreviate(text), s.Regexp)
	}
	v := strings.TrimSpace(m[1])
	if v == "" {
		return "", fmt.Errorf("%s: %w: %q matches %q with an empty group", s, ErrNoVersion, abbreviate(text), s.Regexp)
	}
	return v, nil
}

// CleanText trims white space and one pair of wrapping '"' quotes, which
// some agents put around sysDescr (Cisco IOS 12.2 on a Catalyst 3560).
func CleanText(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	return s
}

func abbreviate(s string) string {
	const max = 120
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// Loader names a boot loader. Values are persisted in profiles.
type Loader string

// The boot loaders.
const (
	LoaderNone    Loader = "none"
	LoaderUBoot   Loader = "u-boot"
	LoaderMCUboot Loader = "mcuboot"
)

// Boot is the firmware slot layout and how the boot loader switches
// between slots.
type Boot struct {
	Loader Loader
	// UBootEnv locates the U-Boot environment (LoaderUBoot only).
	UBootEnv *UBootEnv
	// SlotVariable is the U-Boot variable that selects the slot.
	SlotVariable string
	// Slots are the two slots (A/B, or MCUboot's primary/secondary);
	// empty for LoaderNone.
	Slots []Slot
}

// UBootEnv is the U-Boot environment's place in flash, as a line of
// libubootenv's fw_env.config gives it for each copy.
type UBootEnv struct {
	Size uint64 // environment size in bytes, the same for both copies
	// Copies are one location, or two when the environment is redundant.
	Copies []EnvCopy
}

// Redundant reports whether U-Boot keeps two copies of its environment.
func (e UBootEnv) Redundant() bool { return len(e.Copies) == 2 }

// EnvCopy is where one copy of the environment lives.
type EnvCopy struct {
	// Device is a path (/dev/mtd1, /boot/firmware/uboot.env) or
	// "mtd:NAME", an MTD partition found by name in /proc/mtd.
	Device     string
	Offset     uint64
	SectorSize uint64 // erase block size; 0 for files and block devices
}

// Slot is one firmware slot.
type Slot struct {
	Name string // "A", "B", "primary", …
	// Value is what SlotVariable holds when this slot boots (U-Boot), or
	// the MCUboot slot number.
	Value string
	// Devices maps a role ("kernel", "rootfs", "firmware", "image") to
	// where it is written: a path, "mtd:NAME", or for MCUboot a flash
	// partition label.
	Devices map[string]string
	// Set lists further U-Boot variables to set when switching to this
	// slot (Linksys WRT: bootcmd).
	Set map[string]string
}

// RebootMethod names how a device is restarted. Values are persisted.
type RebootMethod string

// The reboot methods.
const (
	RebootNone         RebootMethod = "none"
	RebootCommand      RebootMethod = "command"
	RebootMCUbootReset RebootMethod = "mcuboot-reset" // SMP OS reset
)

// Reboot says how to restart the device into a new slot.
type Reboot struct {
	Method  RebootMethod
	Command []string // argv, for RebootCommand
}

// HealthKind names a kind of health check. Values are persisted.
type HealthKind string

// The health check kinds.
const (
	HealthCommand       HealthKind = "command"
	HealthHTTP          HealthKind = "http"
	HealthMQTTRoundtrip HealthKind = "mqtt-roundtrip" // to the gateway and back
)

// HealthCheck is one check that must pass before a trial boot is committed.
type HealthCheck struct {
	Name         string
	Kind         HealthKind
	Command      []string // argv, for HealthCommand; exit status 0 passes
	URL          string   // for HealthHTTP
	ExpectStatus int      // for HealthHTTP; 200 unless given
	Timeout      time.Duration
}
