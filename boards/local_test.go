package boards_test

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/boards"
)

const ath79Release = `DISTRIB_ID='OpenWrt'
DISTRIB_RELEASE='23.05.3'
DISTRIB_REVISION='r23809-234f1a2efa'
DISTRIB_TARGET='ath79/generic'
DISTRIB_ARCH='mips_24kc'
DISTRIB_DESCRIPTION='OpenWrt 23.05.3 r23809-234f1a2efa'
DISTRIB_TAINTS=''
`

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func TestIdentifyLocal(t *testing.T) {
	set := embeddedSet(t)
	type local struct {
		ID, Version, Source, Model string
		Unknown, NoVersion         bool
	}
	tests := []struct {
		name string
		fsys fstest.MapFS
		want local
	}{
		{
			name: "openwrt ath79",
			fsys: fstest.MapFS{"etc/openwrt_release": file(ath79Release)},
			want: local{ID: "openwrt-ath79-generic", Version: "23.05.3", Source: "file /etc/openwrt_release"},
		},
		{
			name: "linksys wrt1200ac by device tree and target",
			fsys: fstest.MapFS{
				"proc/device-tree/model": file("Linksys WRT1200AC\x00"),
				"etc/openwrt_release":    file("DISTRIB_ID='OpenWrt'\nDISTRIB_RELEASE='21.02.0-rc4'\nDISTRIB_TARGET='mvebu/cortexa9'\n"),
			},
			want: local{ID: "openwrt-mvebu-linksys-wrt", Version: "21.02.0-rc4", Source: "file /etc/openwrt_release", Model: "Linksys WRT1200AC"},
		},
		{
			name: "openwrt on a target without a profile is generic",
			fsys: fstest.MapFS{
				"proc/device-tree/model": file("Xiaomi Mi Router 4A Gigabit Edition\x00"),
				"etc/openwrt_release":    file("DISTRIB_ID='OpenWrt'\nDISTRIB_RELEASE='23.05.0'\nDISTRIB_TARGET='ramips/mt7621'\n"),
			},
			want: local{ID: "openwrt", Version: "23.05.0", Source: "file /etc/openwrt_release", Model: "Xiaomi Mi Router 4A Gigabit Edition"},
		},
		{
			name: "raspberry pi with the gateway image",
			fsys: fstest.MapFS{
				"proc/device-tree/model": file("Raspberry Pi 4 Model B Rev 1.4\x00"),
				"etc/os-release":         file("PRETTY_NAME=\"Patchbay Gateway\"\nID=debian\nIMAGE_ID=patchbay-gateway\nIMAGE_VERSION=\"1.4.2\"\n"),
			},
			want: local{ID: "rpi-arm64-gateway", Version: "1.4.2", Source: "file /etc/os-release", Model: "Raspberry Pi 4 Model B Rev 1.4"},
		},
		{
			name: "raspberry pi with another OS is unknown",
			fsys: fstest.MapFS{
				"proc/device-tree/model": file("Raspberry Pi 5 Model B Rev 1.0\x00"),
				"etc/os-release":         file("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"),
			},
			want: local{Unknown: true, Model: "Raspberry Pi 5 Model B Rev 1.0"},
		},
		{
			name: "gateway image without a version",
			fsys: fstest.MapFS{
				"proc/device-tree/model": file("Raspberry Pi Compute Module 4 Rev 1.1\x00"),
				"etc/os-release":         file("IMAGE_ID=patchbay-gateway\n"),
			},
			want: local{ID: "rpi-arm64-gateway", NoVersion: true, Model: "Raspberry Pi Compute Module 4 Rev 1.1"},
		},
		{
			name: "nothing to go on",
			fsys: fstest.MapFS{},
			want: local{Unknown: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := boards.IdentifyLocal(t.Context(), tt.fsys, set)
			if err != nil {
				t.Fatal(err)
			}
			got := local{Version: id.Version, Source: id.VersionSource, Model: id.DeviceTreeModel, Unknown: id.Profile == nil}
			if id.Profile != nil {
				got.ID = id.Profile.ID
				got.NoVersion = errors.Is(id.VersionErr, boards.ErrNoVersion)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("IdentifyLocal() mismatch (-want +got):\n%s\ncandidates %v", diff, id.Candidates)
			}
		})
	}
}

// brokenFS fails every open with a permission error.
type brokenFS struct{}

func (brokenFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
}

func TestIdentifyLocalReadError(t *testing.T) {
	_, err := boards.IdentifyLocal(t.Context(), brokenFS{}, embeddedSet(t))
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("IdentifyLocal() error = %v, want fs.ErrPermission", err)
	}
}

func TestIdentifyUSB(t *testing.T) {
	set := embeddedSet(t)
	tests := []struct {
		usb  boards.USBID
		want string
	}{
		{boards.USBID{Vendor: 0x2fe3, Product: 0x0100}, "zephyr-mcuboot-smp"},
		{boards.USBID{Vendor: 0x2fe3, Product: 0x0001}, "zephyr-mcuboot-smp"},
		{boards.USBID{Vendor: 0x0403, Product: 0x6001}, ""}, // a bare FTDI cable says nothing
	}
	for _, tt := range tests {
		id := boards.IdentifyUSB(set, tt.usb)
		got := ""
		if id.Profile != nil {
			got = id.Profile.ID
		}
		if got != tt.want {
			t.Errorf("IdentifyUSB(%s) = %q, want %q", tt.usb, got, tt.want)
		}
	}
}

// TestSerialSources reads versions the way the serial paths do, with the
// Zephyr profile's smp and console sources.
func TestSerialSources(t *testing.T) {
	p, ok := embeddedSet(t).Lookup("zephyr-mcuboot-smp")
	if !ok {
		t.Fatal("no zephyr-mcuboot-smp profile")
	}
	smp, console := p.Version.Sources[0], p.Version.Sources[1]
	mcubootOutput := "swap type: none\r\nconfirmed: 1\r\n\r\nprimary area (1):\r\n  version: 1.4.0+0\r\n  image size: 123456\r\n" +
		"  magic: good\r\n\r\nsecondary area (3):\r\n  version: 1.3.9+0\r\n"
	tests := []struct {
		name    string
		src     boards.Source
		text    string
		want    string
		wantErr bool
	}{
		{"smp image list", smp, "1.4.0", "1.4.0", false},
		{"smp with build number", smp, "1.4.0.7", "1.4.0.7", false},
		{"smp empty", smp, "", "", true},
		{"mcuboot shell, primary area wins", console, mcubootOutput, "1.4.0", false},
		{"shell without mcuboot", console, "mcuboot: command not found\r\n", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.src.Extract(tt.text)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("Extract() = %q, %v; want %q (error %t)", got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, boards.ErrNoVersion) {
				t.Errorf("Extract() error = %v, want ErrNoVersion", err)
			}
		})
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct{ in, want string }{
		{`"Cisco IOS Software"`, "Cisco IOS Software"},
		{" \"quoted\"\r\n", "quoted"},
		{`"`, `"`},
		{`""`, ""},
		{`say "hi"`, `say "hi"`},
		{"V6.4  build 25021113 ", "V6.4  build 25021113"},
	}
	for _, tt := range tests {
		if got := boards.CleanText(tt.in); got != tt.want {
			t.Errorf("CleanText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
