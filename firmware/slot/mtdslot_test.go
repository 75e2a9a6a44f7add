package slot_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"

	"patchbay.dev/firmware/slot"
	"patchbay.dev/firmware/slot/mtd"
	"patchbay.dev/firmware/slot/mtd/mtdtest"
	"patchbay.dev/firmware/slot/slottest"
)

// mtdSlot returns a slot on chip and checks at the end of the test that
// every device it opened was closed.
func mtdSlot(t *testing.T, chip *mtdtest.Chip) *slot.MTD {
	t.Helper()
	s, err := slot.NewMTD(t.Context(), "kernel_b", func(ctx context.Context) (slot.MTDDevice, error) {
		return chip.Open(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if st := chip.Stats(); st.Opens != st.Closes {
			t.Errorf("mtd device opened %d times, closed %d times", st.Opens, st.Closes)
		}
	})
	return s
}

func TestMTDConformance(t *testing.T) {
	chips := []struct {
		name string
		info mtd.Info
		bad  []int64
	}{
		{"nor", mtdtest.NOR(1<<20, 64<<10), nil},
		{"nand", mtdtest.NAND(1<<20, 128<<10, 2048), nil},
		{"nand with bad blocks", mtdtest.NAND(1<<20+256<<10, 128<<10, 2048), []int64{0, 3 * 128 << 10}},
	}
	for _, c := range chips {
		t.Run(c.name, func(t *testing.T) {
			slottest.Run(t, func(t *testing.T) slottest.Target {
				chip := mtdtest.New(t, c.info)
				for _, off := range c.bad {
					chip.SetBad(off)
				}
				return slottest.Target{
					Slot: mtdSlot(t, chip),
					FailAfter: func(n int64) error {
						chip.CutPowerAfter(n)
						return mtdtest.ErrPowerCut
					},
				}
			})
		})
	}
}

// TestMTDSkipsBadBlocks checks where the image lands: in the good blocks,
// in order, as U-Boot's "nand read" will look for it.
func TestMTDSkipsBadBlocks(t *testing.T) {
	const es = 16 << 10
	chip := mtdtest.New(t, mtdtest.NAND(8*es, es, 512))
	chip.SetBad(1 * es)
	chip.SetBad(2 * es)
	s := mtdSlot(t, chip)
	if s.Size() != 6*es {
		t.Fatalf("Size() = %d, want %d (6 good blocks)", s.Size(), 6*es)
	}
	img := bytes.Repeat([]byte("0123456789abcdef"), 2*es/16+100) // two blocks and a bit
	if err := slot.Write(t.Context(), s, bytes.NewReader(img), int64(len(img))); err != nil {
		t.Fatal(err)
	}
	raw := chip.Bytes()
	want := map[int64][]byte{
		0 * es: img[:es],
		3 * es: img[es : 2*es],
		4 * es: append(bytes.Clone(img[2*es:]), bytes.Repeat([]byte{0xFF}, es-len(img[2*es:]))...),
		1 * es: bytes.Repeat([]byte{0xFF}, es), // bad, untouched
	}
	for off, w := range want {
		if got := raw[off : off+es]; !bytes.Equal(got, w) {
			t.Errorf("flash block at %#x holds % x..., want % x...", off, got[:8], w[:8])
		}
	}
	sum := sha256.Sum256(img)
	if err := slot.Verify(t.Context(), s, int64(len(img)), sum[:]); err != nil {
		t.Errorf("Verify = %v", err)
	}
}

// TestMTDEraseCount checks that only the blocks the image needs are
// erased: flash wears out.
func TestMTDEraseCount(t *testing.T) {
	chip := mtdtest.New(t, mtdtest.NOR(1<<20, 64<<10))
	s := mtdSlot(t, chip)
	img := make([]byte, 3*64<<10+1)
	if err := slot.Write(t.Context(), s, bytes.NewReader(img), int64(len(img))); err != nil {
		t.Fatal(err)
	}
	if got := chip.Stats().Erases; got != 4 {
		t.Errorf("erased %d blocks for a 3-block-and-a-byte image, want 4", got)
	}
}
