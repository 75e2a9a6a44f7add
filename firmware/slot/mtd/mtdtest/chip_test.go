package mtdtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"syscall"
	"testing"
)

func open(t *testing.T, c *Chip) *Device {
	t.Helper()
	d, err := c.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestNORClearsBitsOnly(t *testing.T) {
	c := New(t, NOR(4<<10, 1<<10))
	d := open(t, c)
	if _, err := d.WriteAt([]byte{0xF0, 0x0F}, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := d.WriteAt([]byte{0x3C, 0xFF}, 10); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 2)
	if _, err := d.ReadAt(got, 10); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x30, 0x0F}; !bytes.Equal(got, want) {
		t.Errorf("after two programs = % x, want % x (AND of both)", got, want)
	}
	if err := d.Erase(t.Context(), 0, 1<<10); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadAt(got, 10); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0xFF, 0xFF}; !bytes.Equal(got, want) {
		t.Errorf("after erase = % x, want % x", got, want)
	}
}

func TestNANDRules(t *testing.T) {
	tests := []struct {
		name  string
		setup func(c *Chip, d *Device)
		off   int64
		data  []byte
		want  error
	}{
		{"aligned page", nil, 512, bytes.Repeat([]byte{1}, 512), nil},
		{"unaligned offset", nil, 100, bytes.Repeat([]byte{1}, 512), syscall.EINVAL},
		{"partial page", nil, 0, bytes.Repeat([]byte{1}, 100), syscall.EINVAL},
		{"page written twice", func(c *Chip, d *Device) { d.WriteAt(make([]byte, 512), 0) }, 0, make([]byte, 512), syscall.EIO},
		{"bad block", func(c *Chip, d *Device) { c.SetBad(4096) }, 4096, make([]byte, 512), syscall.EIO},
		{"failing block", func(c *Chip, d *Device) { c.FailBlock(0, syscall.EROFS) }, 0, make([]byte, 512), syscall.EROFS},
		{"beyond end", nil, 16 << 10, make([]byte, 512), syscall.ENOSPC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(t, NAND(16<<10, 4<<10, 512))
			d := open(t, c)
			if tt.setup != nil {
				tt.setup(c, d)
			}
			if _, err := d.WriteAt(tt.data, tt.off); !errors.Is(err, tt.want) {
				t.Errorf("WriteAt(%d bytes, %d) = %v, want %v", len(tt.data), tt.off, err, tt.want)
			}
		})
	}
}

func TestBadBlocks(t *testing.T) {
	c := New(t, NAND(16<<10, 4<<10, 512))
	c.SetBad(8192 + 5)
	d := open(t, c)
	for off, want := range map[int64]bool{0: false, 8192: true, 12287: true, 12288: false} {
		if got, err := d.IsBad(off); err != nil || got != want {
			t.Errorf("IsBad(%d) = %v, %v, want %v", off, got, err, want)
		}
	}
	if err := d.Erase(t.Context(), 8192, 4096); !errors.Is(err, syscall.EIO) {
		t.Errorf("Erase(bad block) = %v, want EIO", err)
	}
	if err := d.MarkBad(0); err != nil {
		t.Fatal(err)
	}
	if bad, _ := d.IsBad(100); !bad {
		t.Error("MarkBad(0) did not mark block 0 bad")
	}
	nor := open(t, New(t, NOR(4<<10, 1<<10)))
	if err := nor.MarkBad(0); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("NOR MarkBad = %v, want ErrUnsupported", err)
	}
}

func TestPowerCut(t *testing.T) {
	c := New(t, NOR(4<<10, 1<<10))
	d := open(t, c)
	c.CutPowerAfter(3)
	n, err := d.WriteAt([]byte{0, 0, 0, 0, 0}, 0)
	if n != 3 || !errors.Is(err, ErrPowerCut) {
		t.Fatalf("WriteAt across the cut = %d, %v, want 3, ErrPowerCut", n, err)
	}
	if _, err := d.WriteAt([]byte{0}, 100); !errors.Is(err, ErrPowerCut) {
		t.Errorf("WriteAt after the cut = %v, want ErrPowerCut", err)
	}
	if err := d.Erase(t.Context(), 0, 1<<10); !errors.Is(err, ErrPowerCut) {
		t.Errorf("Erase after the cut = %v, want ErrPowerCut", err)
	}
	if got := c.Bytes()[:6]; !bytes.Equal(got, []byte{0, 0, 0, 0xFF, 0xFF, 0xFF}) {
		t.Errorf("contents after the cut = % x, want three programmed bytes", got)
	}
	c.RestorePower()
	if _, err := d.WriteAt([]byte{0}, 100); err != nil {
		t.Errorf("WriteAt after RestorePower = %v", err)
	}
	if s := c.Stats(); s.Programmed != 4 || s.Erases != 0 {
		t.Errorf("Stats = %+v, want 4 bytes programmed, no erase", s)
	}
}

func TestReadAtEnd(t *testing.T) {
	c := New(t, NOR(4<<10, 1<<10))
	d := open(t, c)
	p := make([]byte, 10)
	n, err := d.ReadAt(p, 4<<10-4)
	if n != 4 || err != io.EOF {
		t.Errorf("ReadAt across the end = %d, %v, want 4, io.EOF", n, err)
	}
}

func TestCloseCounts(t *testing.T) {
	c := New(t, NOR(4<<10, 1<<10))
	d, err := c.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if _, err := d.ReadAt(make([]byte, 1), 0); err == nil {
		t.Error("ReadAt after Close succeeded")
	}
	if s := c.Stats(); s.Opens != 1 || s.Closes != 1 {
		t.Errorf("Stats = %+v, want one open and one close", s)
	}
}
