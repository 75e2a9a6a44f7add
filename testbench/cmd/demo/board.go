package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"patchbay.dev/firmware/meta"
)

// board is one of the shipped board profiles the A/B devices are, with
// the release the demo signs for it.
type board struct {
	id     string // the shipped profile's id (boards/profiles)
	prefix string // of device ids
	scheme string // the profile's version scheme
	// from is the version the devices run, to the signed update's.
	from, to string
	// osRelease renders the device's os-release for a version; matchRegex
	// recognises it and versionRegex reads the version from it, as the
	// shipped profile does from its own file.
	osRelease    func(version string) string
	matchRegex   string
	versionRegex string
	// The signed metadata of the update.
	cves       []string
	cvss       string
	kev        bool
	minVersion string
	released   string
	eol        string
}

// boardsOfDemo are the two shipped boards: OpenWrt on ath79 routers
// (dotted versions, a critical update that closes a known-exploited hole)
// and the Raspberry Pi IoT gateway image (semver, a high one).
var boardsOfDemo = []board{
	{
		id: "openwrt-ath79-generic", prefix: "rtr", scheme: "dotted",
		from: "23.05.2", to: "23.05.3",
		osRelease: func(v string) string {
			return fmt.Sprintf("NAME=\"OpenWrt\"\nVERSION=%q\nID=\"openwrt\"\nID_LIKE=\"lede openwrt\"\nPRETTY_NAME=\"OpenWrt %s\"\nVERSION_ID=%q\nOPENWRT_BOARD=\"ath79/generic\"\nOPENWRT_ARCH=\"mips_24kc\"\n", v, v, v)
		},
		matchRegex:   `(?m)^OPENWRT_BOARD="ath79/generic"$`,
		versionRegex: `(?m)^VERSION_ID="?([^"\n]+)`,
		cves:         []string{"CVE-2024-3094"},
		cvss:         "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		kev:          true,
		minVersion:   "22.03.0",
		released:     "2024-03-22",
		eol:          "2027-06-30",
	},
	{
		id: "rpi-arm64-gateway", prefix: "gw", scheme: "semver",
		from: "1.4.0", to: "1.5.0",
		osRelease: func(v string) string {
			return fmt.Sprintf("PRETTY_NAME=\"Patchbay gateway %s (Debian GNU/Linux 12)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\nIMAGE_ID=patchbay-gateway\nIMAGE_VERSION=%s\n", v, v)
		},
		matchRegex:   `(?m)^IMAGE_ID="?patchbay-gateway"?$`,
		versionRegex: `(?m)^IMAGE_VERSION="?([^"\n]+?)"?$`,
		cves:         []string{"CVE-2024-6387"},
		cvss:         "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H",
		minVersion:   "1.0.0",
		released:     "2024-07-01",
		eol:          "2028-12-31",
	},
}

// severity is what the signed CVSS vector makes of the update.
func (b board) severity() string {
	return string(meta.Target{CVSS: b.cvss}.Severity())
}

// describe says what the update closes, for people.
func (b board) describe() string {
	s := b.severity() + ", " + strings.Join(b.cves, " ")
	if b.kev {
		s += ", known exploited"
	}
	return s
}

// targetName is the update's path in the repository.
func (b board) targetName() string {
	return "firmware/" + b.id + "/" + b.to + ".img"
}

// payloadSize is the size of every image's payload: big enough to be
// streamed, read back and hashed, small enough for a quick demo.
const payloadSize = 1 << 20

// slotSize is each simulated slot's capacity.
const slotSize = 4 << 20

// payload is a deterministic stand-in for a firmware image of the board
// and version.
func payload(boardID, version string) []byte {
	seed := [32]byte{}
	copy(seed[:], boardID+"@"+version)
	b := make([]byte, payloadSize)
	_, _ = rand.NewChaCha8(seed).Read(b) // never fails
	return b
}

// writeAtomic replaces the file at path with data: written to a
// temporary file, then renamed over it.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
