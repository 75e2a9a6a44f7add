package bootenv

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"patchbay.dev/firmware/slot/mtd"
	"patchbay.dev/firmware/slot/mtd/mtdtest"
)

// The tests in this file put the environment on fake MTD flash
// (mtdtest), since no test machine has the routers' NOR and NAND.

// flashStore returns a Store whose copies are on chips, by device name,
// checking at the end of the test that every device opened was closed.
func flashStore(t *testing.T, copies []Location, chips map[string]*mtdtest.Chip) *Store {
	t.Helper()
	s, err := New(Config{Copies: copies, DisableLock: true, ByteOrder: binary.LittleEndian})
	if err != nil {
		t.Fatal(err)
	}
	s.open = func(ctx context.Context, loc Location, writable bool) (medium, error) {
		chip, ok := chips[loc.Device]
		if !ok {
			t.Fatalf("no fake chip for %s", loc.Device)
		}
		dev, err := chip.Open(ctx)
		if err != nil {
			return nil, err
		}
		m, err := newFlashMedium(dev, loc)
		if err != nil {
			dev.Close()
			return nil, err
		}
		return m, nil
	}
	t.Cleanup(func() {
		for name, c := range chips {
			if st := c.Stats(); st.Opens != st.Closes {
				t.Errorf("%s opened %d times, closed %d times", name, st.Opens, st.Closes)
			}
		}
	})
	return s
}

// norLayout is two 0x400-byte copies in the first two 4 KiB sectors of a
// 16 KiB NOR partition, as on an ath79 router's "u-boot-env" partition.
func norLayout(t *testing.T) (*mtdtest.Chip, []Location) {
	chip := mtdtest.New(t, mtdtest.NOR(16<<10, 4<<10))
	return chip, []Location{
		{Device: "/dev/mtd1", Offset: 0, Size: 0x400, SectorSize: 0x1000},
		{Device: "/dev/mtd1", Offset: 0x1000, Size: 0x400, SectorSize: 0x1000},
	}
}

// TestNORBooleanFlags checks the NOR scheme: the new copy is written
// active (1), then the old one is marked obsolete (0) in place.
func TestNORBooleanFlags(t *testing.T) {
	chip, copies := norLayout(t)
	s := flashStore(t, copies, map[string]*mtdtest.Chip{"/dev/mtd1": chip})
	if err := s.Write(t.Context(), mustEnv(t, map[string]string{"bootcount": "0"})); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		snap, err := s.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		raw := chip.Bytes()
		active, other := snap.Active, 1-snap.Active
		if f := raw[copies[active].Offset+4]; f != flagActive {
			t.Fatalf("round %d: active copy %d has flag %d, want %d", i, active, f, flagActive)
		}
		if f := raw[copies[other].Offset+4]; f != flagObsolete {
			t.Fatalf("round %d: other copy has flag %d, want %d", i, f, flagObsolete)
		}
		before := chip.Stats()
		if _, err := s.Apply(t.Context(), Changes{"bootcount": new(strings.Repeat("1", i+1))}); err != nil {
			t.Fatal(err)
		}
		after := chip.Stats()
		if after.Erases-before.Erases != 1 {
			t.Errorf("round %d: %d sectors erased, want 1", i, after.Erases-before.Erases)
		}
		if snap2, _ := s.Load(t.Context()); snap2.Active != other {
			t.Errorf("round %d: active copy %d after the write, want %d", i, snap2.Active, other)
		}
	}
}

// TestNORSectorTailKept checks that what shares the erase sector with the
// environment survives a write, unlike with fw_setenv, which erases it.
func TestNORSectorTailKept(t *testing.T) {
	chip, copies := norLayout(t)
	dev, _ := chip.Open(t.Context())
	marker := []byte("calibration data")
	if _, err := dev.WriteAt(marker, 0x1000+0x800); err != nil {
		t.Fatal(err)
	}
	dev.Close()
	s := flashStore(t, copies, map[string]*mtdtest.Chip{"/dev/mtd1": chip})
	for i := range 3 {
		if err := s.Write(t.Context(), mustEnv(t, map[string]string{"i": strings.Repeat("x", i)})); err != nil {
			t.Fatal(err)
		}
	}
	if got := chip.Bytes()[0x1800 : 0x1800+len(marker)]; !bytes.Equal(got, marker) {
		t.Errorf("bytes after the copy in its sector = %q, want %q", got, marker)
	}
}

// TestFlashPowerCut cuts the power at every byte of a write to a
// redundant environment on NOR and on NAND, and checks that a valid
// environment, old or new, is there afterwards.
func TestFlashPowerCut(t *testing.T) {
	t.Parallel()
	norChip := func(t *testing.T) (*mtdtest.Chip, []Location) { return norLayout(t) }
	nandChip := func(t *testing.T) (*mtdtest.Chip, []Location) {
		chip := mtdtest.New(t, mtdtest.NAND(64<<10, 8<<10, 512))
		return chip, []Location{
			{Device: "/dev/mtd1", Offset: 0, Size: 0x800, Sectors: 2},
			{Device: "/dev/mtd1", Offset: 16 << 10, Size: 0x800, Sectors: 2},
		}
	}
	tests := []struct {
		name string
		chip func(*testing.T) (*mtdtest.Chip, []Location)
		step int
	}{
		{"nor", norChip, 1},
		{"nand", nandChip, 3},
	}
	oldValue, newValue := "old", strings.Repeat("n", 300)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for cut := 0; ; cut += tt.step {
				chip, copies := tt.chip(t)
				s := flashStore(t, copies, map[string]*mtdtest.Chip{"/dev/mtd1": chip})
				if err := s.Write(t.Context(), mustEnv(t, map[string]string{"v": "older"})); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Apply(t.Context(), Changes{"v": &oldValue}); err != nil {
					t.Fatal(err)
				}
				chip.CutPowerAfter(int64(cut))
				_, applyErr := s.Apply(t.Context(), Changes{"v": &newValue})
				chip.RestorePower()
				if applyErr != nil && !errors.Is(applyErr, mtdtest.ErrPowerCut) {
					t.Fatalf("cut after %d bytes: Apply = %v, want the power cut", cut, applyErr)
				}
				env, err := s.Read(t.Context())
				if err != nil {
					t.Fatalf("cut after %d bytes: Read = %v, want a valid environment", cut, err)
				}
				if v, _ := env.Get("v"); v != oldValue && v != newValue {
					t.Fatalf("cut after %d bytes: v=%q", cut, v)
				}
				if applyErr == nil {
					if v, _ := env.Get("v"); v != newValue {
						t.Fatalf("Apply succeeded but v=%q", v)
					}
					t.Logf("a write programs %d bytes; every cut before left a valid environment", cut)
					return
				}
			}
		})
	}
}

// TestNANDBadBlocks puts copy 0's first sector on a bad block: the copy
// moves to the next sector, as libubootenv moves it.
func TestNANDBadBlocks(t *testing.T) {
	const es = 8 << 10
	chip := mtdtest.New(t, mtdtest.NAND(64<<10, es, 512))
	chip.SetBad(0)
	copies := []Location{
		{Device: "/dev/mtd2", Offset: 0, Size: 0x800, Sectors: 2},
		{Device: "/dev/mtd2", Offset: 2 * es, Size: 0x800, Sectors: 2},
	}
	s := flashStore(t, copies, map[string]*mtdtest.Chip{"/dev/mtd2": chip})
	if err := s.Write(t.Context(), mustEnv(t, map[string]string{"n": ""})); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"x", "xx"} {
		if _, err := s.Apply(t.Context(), Changes{"n": &v}); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := s.Load(t.Context())
	if err != nil || snap.Problems() != nil {
		t.Fatalf("Load = %v, problems %v", err, snap.Problems())
	}
	raw := chip.Bytes()
	if !bytes.Equal(raw[:es], bytes.Repeat([]byte{0xFF}, es)) {
		t.Error("the bad block was written")
	}
	if _, _, err := decodeCopy(raw[es:es+0x800], s.layout); err != nil {
		t.Errorf("copy 0 is not in the block after the bad one: %v", err)
	}
	if f := [2]byte{raw[es+4], raw[2*es+4]}; f[0]+f[1] != 1+2 {
		t.Errorf("flags %v after three writes, want incremental 1 and 2", f)
	}

	chip.SetBad(es)
	if _, err := s.Read(t.Context()); err != nil {
		t.Errorf("Read with copy 0 on two bad blocks = %v, want copy 1", err)
	}
	if _, err := s.Apply(t.Context(), Changes{"n": new("y")}); err == nil || !strings.Contains(err.Error(), "only 0 of 2 sectors are good") {
		t.Errorf("Apply with copy 0 all bad = %v, want an error about its bad sectors", err)
	}
}

func TestFlashUnchangedDoesNotErase(t *testing.T) {
	chip, copies := norLayout(t)
	s := flashStore(t, copies, map[string]*mtdtest.Chip{"/dev/mtd1": chip})
	if err := s.Write(t.Context(), mustEnv(t, map[string]string{"bootcount": "0"})); err != nil {
		t.Fatal(err)
	}
	before := chip.Stats()
	if written, err := s.Apply(t.Context(), Changes{"bootcount": new("0")}); err != nil || written {
		t.Fatalf("Apply = %v, %v", written, err)
	}
	if after := chip.Stats(); after.Erases != before.Erases || after.Programmed != before.Programmed {
		t.Errorf("an unchanged Apply erased %d sectors and programmed %d bytes", after.Erases-before.Erases, after.Programmed-before.Programmed)
	}
}

func TestFlashLayoutErrors(t *testing.T) {
	tests := []struct {
		name string
		info mtd.Info
		loc  Location
		want string
	}{
		{"unaligned offset", mtdtest.NOR(16<<10, 4<<10), Location{Offset: 0x200, Size: 0x400}, "not at an erase block"},
		{"sector smaller than erase block", mtdtest.NOR(16<<10, 4<<10), Location{Size: 0x400, SectorSize: 0x800}, "not a multiple of the flash erase size"},
		{"beyond the partition", mtdtest.NOR(16<<10, 4<<10), Location{Offset: 0x3000, Size: 0x400, Sectors: 2}, "do not fit"},
		{"ram", mtd.Info{Type: mtd.RAM, Size: 16 << 10, EraseSize: 4 << 10, WriteSize: 1}, Location{Size: 0x400}, "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chip := mtdtest.New(t, tt.info)
			dev, _ := chip.Open(t.Context())
			defer dev.Close()
			tt.loc.Device = "/dev/mtd9"
			if _, err := newFlashMedium(dev, tt.loc); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("newFlashMedium = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestMixedMediaRefused checks that copies with different flag schemes
// (a file and NOR flash) are refused, as libubootenv refuses them.
func TestMixedMediaRefused(t *testing.T) {
	e := newEnvFile(t, false, 0x400)
	chip, nor := norLayout(t)
	s := flashStore(t, []Location{{Device: e.dev, Size: 0x400}, nor[1]}, map[string]*mtdtest.Chip{"/dev/mtd1": chip})
	flash := s.open
	s.open = func(ctx context.Context, loc Location, writable bool) (medium, error) {
		if loc.Device == e.dev {
			return openMedium(ctx, loc, writable)
		}
		return flash(ctx, loc, writable)
	}
	if _, err := s.Read(t.Context()); err == nil || !strings.Contains(err.Error(), "same kind of device") {
		t.Errorf("Read of a file and a NOR copy = %v, want an error about mixed devices", err)
	}
}
