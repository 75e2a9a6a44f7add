// Package boards holds board profiles — what Patchbay knows about each kind
// of device, as data — and matches devices to them.
//
// A profile says how to recognise a device (SNMP sysObjectID prefixes,
// sysDescr and other values; /proc/device-tree/model and local files; USB
// VID:PID), how to read its firmware version (an ordered list of sources)
// and order versions (a firmware/version scheme), its CPE name, the Go
// target the agent is built for on it, its firmware slots and boot loader
// (U-Boot environment and A/B slots, MCUboot, or none), how to reboot it
// and which health checks must pass before an update is committed. Board
// differences live here as data, not as code elsewhere.
//
// Profiles are YAML files embedded in every binary (profiles/*.yaml);
// Load adds an operator's directories, whose profiles add to the embedded
// ones or replace them by id. Decoding is strict: unknown fields, wrong
// types, bad regular expressions, unknown version schemes and
// inconsistent fields are errors, all of them reported at once, each a
// *ProfileError naming file, line and field and saying what would be
// right. A Set is valid by construction.
//
// Identify matches a device over SNMP (any SNMPReader: gosnmp on the
// network, snmprec recordings in tests), IdentifyLocal the device the agent
// runs on (through an fs.FS), IdentifyUSB a serial-attached device. The most
// specific matching profile wins; ties and misses leave the device unknown,
// reported with what it said about itself. Identification reads only the
// OIDs the profiles name and strips the literal quotes some agents wrap
// strings in (CleanText); the loader refuses sources that would read LLDP
// or CDP neighbour tables.
//
// It does not talk to devices itself (SNMP, serial and SMP are the
// callers'), write boot environments or flash, or decide what to install.
// Loading and identification are safe for concurrent use; a Set and its
// Profiles are not modified after loading.
//
// # Profile schema
//
//	id: openwrt-ath79-generic          # [a-z0-9-], used in TUF target metadata
//	vendor: OpenWrt                    # required unless generic
//	model: ath79/generic routers       # required unless generic; forbidden if generic
//	description: free text
//	generic: false                     # a fallback that claims no model
//	priority: 0                        # -1000…1000, breaks ties, higher wins
//	cpe: {part: o, vendor: openwrt, product: openwrt}  # CPE 2.3, NVD's spelling
//	arch: {goarch: mips, variant: softfloat, endian: big}  # optional; variant is GOMIPS/GOARM/GOARM64/GOAMD64
//	match:                             # at least one part; all conditions of a part must hold
//	  snmp:
//	    sys_object_id: [1.3.6.1.4.1.9.1]  # prefixes; required unless generic
//	    sys_descr: '^Cisco IOS Software'  # regexp (Go RE2)
//	    values:                        # more conditions: an instance or a column (some row)
//	      - {get: 1.3.6.1.4.1.41112.1.6.3.6.0, regex: '^\d'}
//	      - {walk: 1.3.6.1.2.1.47.1.1.1.1.10}
//	  device_tree_model: '^Raspberry Pi 4'
//	  files: [{path: /etc/openwrt_release, regex: "(?m)^DISTRIB_TARGET='ath79/generic'$"}]
//	  usb: ["2fe3:0100"]
//	version:
//	  scheme: dotted                   # semver, dotted, or {kind: regex, pattern: '^(\d+)…'}
//	  sources:                         # tried in order; regex has exactly one group
//	    - {kind: snmp-get, oid: 1.3.6.1.2.1.1.1.0, regex: 'Version (\S+),'}  # regex optional
//	    - {kind: snmp-walk, oid: 1.3.6.1.2.1.47.1.1.1.1.10, regex: '^(.+)$'} # first non-empty row
//	    - {kind: file, path: /etc/os-release, regex: '(?m)^VERSION_ID="?([^"\n]+)'}
//	    - {kind: console, command: mcuboot, prompt: "uart:~$ ", regex: 'version: (\S+)'}
//	    - {kind: smp, image: 0}          # SMP image list, the active slot
//	boot:                              # optional; loader none if absent
//	  loader: u-boot                   # none, u-boot, mcuboot
//	  uboot_env:                       # fw_env.config: device, offset, size, sector size
//	    size: 0x10000
//	    redundant: false               # true: two copies
//	    copies: [{device: "mtd:u-boot-env", offset: 0x0, sector_size: 0x10000}]
//	  slot_variable: patchbay_slot
//	  slots:                           # exactly two
//	    - {name: A, value: A, devices: {firmware: "mtd:firmware_a"}, set: {bootcmd: …}}
//	    - {name: B, value: B, devices: {firmware: "mtd:firmware_b"}}
//	reboot: {method: command, command: [/sbin/reboot]}  # none, command, mcuboot-reset
//	health:
//	  - {name: ubus, kind: command, command: [/bin/ubus, call, system, board], timeout: 30s}
//	  - {name: portal, kind: http, url: "http://127.0.0.1/", expect_status: 200, timeout: 10s}
//	  - {name: gateway, kind: mqtt-roundtrip, timeout: 2m}
//
// Devices are "/dev/…" paths, other absolute paths (a U-Boot environment in
// a file), or "mtd:NAME", an MTD partition found by name in /proc/mtd by
// whoever opens it. SNMP OIDs are numeric (MIB names are not resolved).
//
// # Specifications
//
// SNMPv2-MIB (RFC 3418) sysDescr and sysObjectID; ENTITY-MIB (RFC 6933)
// entPhysicalSoftwareRev; CPE 2.3 naming (NISTIR 7695); libubootenv's
// fw_env.config fields; MCUboot image versions as SMP reports them; the
// os-release format (IMAGE_ID, IMAGE_VERSION, VERSION_ID).
package boards
