package mtd

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// infoTests are struct mtd_info_user as a little- and a big-endian kernel
// fill it in, with the Info each decodes to.
var infoTests = []struct {
	name  string
	order binary.ByteOrder
	raw   [infoSize]byte
	want  Info
}{
	{
		name:  "nand little-endian",
		order: binary.LittleEndian,
		raw: [infoSize]byte{
			0x04, 0, 0, 0, // type MTD_NANDFLASH, padding
			0x00, 0x04, 0, 0, // flags MTD_WRITEABLE (0x400)
			0x00, 0x00, 0x40, 0x00, // size 4 MiB
			0x00, 0x00, 0x02, 0x00, // erasesize 128 KiB
			0x00, 0x08, 0, 0, // writesize 2048
			0x40, 0, 0, 0, // oobsize 64
			0, 0, 0, 0, 0, 0, 0, 0, // padding
		},
		want: Info{Type: NANDFlash, Flags: 0x400, Size: 4 << 20, EraseSize: 128 << 10, WriteSize: 2048, OOBSize: 64},
	},
	{
		name:  "nor big-endian (ath79 mips)",
		order: binary.BigEndian,
		raw: [infoSize]byte{
			0x03, 0, 0, 0, // type MTD_NORFLASH
			0, 0, 0x0c, 0x00, // flags MTD_CAP_NORFLASH (0xc00)
			0x00, 0x01, 0x00, 0x00, // size 64 KiB
			0x00, 0x01, 0x00, 0x00, // erasesize 64 KiB
			0, 0, 0, 1, // writesize 1
			0, 0, 0, 0, // oobsize
			0, 0, 0, 0, 0, 0, 0, 0,
		},
		want: Info{Type: NORFlash, Flags: 0xc00, Size: 64 << 10, EraseSize: 64 << 10, WriteSize: 1},
	},
}

func TestDecodeInfo(t *testing.T) {
	for _, tt := range infoTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decodeInfo(&tt.raw, tt.order); got != tt.want {
				t.Errorf("decodeInfo = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEncodeErase(t *testing.T) {
	got64 := encodeErase64(0x20000, 0x10000, binary.BigEndian)
	want64 := [16]byte{0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0x01, 0, 0}
	if got64 != want64 {
		t.Errorf("encodeErase64 big-endian = % x, want % x", got64, want64)
	}
	got32, err := encodeErase32(0x20000, 0x10000, binary.LittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	want32 := [8]byte{0, 0, 0x02, 0, 0, 0, 0x01, 0}
	if got32 != want32 {
		t.Errorf("encodeErase32 little-endian = % x, want % x", got32, want32)
	}
	if _, err := encodeErase32(1<<32, 0x10000, binary.LittleEndian); err == nil {
		t.Error("encodeErase32 beyond 4 GiB: no error")
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		info Info
		ok   bool
	}{
		{"nand", Info{Type: NANDFlash, Size: 1 << 20, EraseSize: 128 << 10, WriteSize: 2048}, true},
		{"nor", Info{Type: NORFlash, Size: 1 << 20, EraseSize: 64 << 10, WriteSize: 1}, true},
		{"zero erase size", Info{Type: NORFlash, Size: 1 << 20, WriteSize: 1}, false},
		{"partial block", Info{Type: NORFlash, Size: 1<<20 + 1, EraseSize: 64 << 10, WriteSize: 1}, false},
		{"page does not divide block", Info{Type: NANDFlash, Size: 1 << 20, EraseSize: 128 << 10, WriteSize: 3000}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.info.Check(); (err == nil) != tt.ok {
				t.Errorf("Check() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestTypeString(t *testing.T) {
	for typ, want := range map[Type]string{NORFlash: "nor", NANDFlash: "nand", MLCNANDFlash: "mlc-nand", 42: "type-42"} {
		if got := typ.String(); got != want {
			t.Errorf("Type(%d).String() = %q, want %q", typ, got, want)
		}
	}
}

// TestOpenRegularFile checks that a file that is not an MTD device is
// refused with the ioctl's error (ENOTTY) rather than treated as flash.
func TestOpenRegularFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not-mtd")
	if err := os.WriteFile(path, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), path)
	if err == nil {
		t.Fatal("Open(regular file) succeeded")
	}
	if runtime.GOOS != "linux" && !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Open on %s = %v, want errors.ErrUnsupported", runtime.GOOS, err)
	}
}
