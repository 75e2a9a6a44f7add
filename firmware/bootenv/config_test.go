package bootenv

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name        string
		text        string
		want        []Location
		disableLock bool
	}{
		{
			name: "nor redundant, hex, comments",
			text: "# MTD device name\tDevice offset\tEnv. size\tFlash sector size\n" +
				"/dev/mtd1\t\t0x0000\t\t0x4000\t\t0x4000\n" +
				"\n" +
				"   # indented comment\n" +
				"/dev/mtd2 0x0000 0x4000 0x4000 # trailing comment\n",
			want: []Location{
				{Device: "/dev/mtd1", Size: 0x4000, SectorSize: 0x4000},
				{Device: "/dev/mtd2", Size: 0x4000, SectorSize: 0x4000},
			},
		},
		{
			name: "nand with sectors",
			text: "/dev/mtd0 0x4000 0x4000 0x20000 2\n",
			want: []Location{{Device: "/dev/mtd0", Offset: 0x4000, Size: 0x4000, SectorSize: 0x20000, Sectors: 2}},
		},
		{
			name: "sizes are hex without 0x, offsets are C integers",
			text: "/boot/uboot.env 10 1000\n/boot/uboot.env 010 0X1000 20000 a\n",
			want: []Location{
				{Device: "/boot/uboot.env", Offset: 10, Size: 0x1000},
				{Device: "/boot/uboot.env", Offset: 8, Size: 0x1000, SectorSize: 0x20000, Sectors: 10},
			},
		},
		{
			name: "block device from the end",
			text: "/dev/mmcblk0 -0x20000 0x20000\n",
			want: []Location{{Device: "/dev/mmcblk0", Offset: -0x20000, Size: 0x20000}},
		},
		{
			name:        "disable lock column",
			text:        "/dev/mtd1 0 0x4000 0x4000 1 1\n",
			want:        []Location{{Device: "/dev/mtd1", Size: 0x4000, SectorSize: 0x4000, Sectors: 1}},
			disableLock: true,
		},
		{
			name: "crlf",
			text: "env.bin 0x0 0x1000\r\n",
			want: []Location{{Device: "env.bin", Size: 0x1000}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ParseConfig("fw_env.config", strings.NewReader(tt.text))
			if err != nil {
				t.Fatalf("ParseConfig = %v", err)
			}
			if !reflect.DeepEqual(cfg.Copies, tt.want) || cfg.DisableLock != tt.disableLock {
				t.Errorf("ParseConfig = %+v, lock disabled %v\nwant %+v, lock disabled %v", cfg.Copies, cfg.DisableLock, tt.want, tt.disableLock)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"empty", "# nothing\n", "no environment copy"},
		{"two fields", "/dev/mtd1 0x0\n", "fw_env.config:1: 2 fields"},
		{"bad offset", "x 0x 0x1000\n", "fw_env.config:1: offset \"0x\""},
		{"octal digit 8", "x 08 0x1000\n", "offset \"08\""},
		{"underscore", "x 1_000 0x1000\n", "offset \"1_000\""},
		{"bad size", "x 0 zz\n", "environment size \"zz\""},
		{"negative size", "x 0 -1000\n", "environment size \"-1000\""},
		{"zero size", "x 0 0\n", "environment size is 0"},
		{"tiny size", "x 0 4\n", "too small"},
		{"third copy", "a 0 0x100\nb 0 0x100\nc 0 0x100\n", "fw_env.config:3: a third environment copy"},
		{"different sizes", "a 0 0x100\nb 0 0x200\n", "different sizes"},
		{"bad lock column", "a 0 0x100 0x100 1 yes\n", "disable-lock \"yes\""},
		{"seven fields", "a 0 0x100 0x100 1 0 x\n", "7 fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("fw_env.config", strings.NewReader(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseConfig(%q) = %v, want an error containing %q", tt.text, err, tt.want)
			}
		})
	}
}

func TestValidateJoinsProblems(t *testing.T) {
	err := Config{Copies: []Location{{Size: 2}, {Device: "x", Size: 0x100, Sectors: -1}}}.Validate()
	for _, want := range []string{"copy 1: no device", "copy 2 (x at 0x0): negative sector", "different sizes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

func TestLoadConfigMissing(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "fw_env.config"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadConfig of a missing file = %v, want os.ErrNotExist", err)
	}
}
