package slot_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"testing"

	"patchbay.dev/firmware/slot"
)

// BenchmarkFileWriteVerify measures what an install costs on a file slot:
// streaming the image in, then reading it back and hashing it. MB/s is per
// image byte (each is written once and read once).
func BenchmarkFileWriteVerify(b *testing.B) {
	for _, size := range []int64{1 << 20, 16 << 20} {
		b.Run(byteSize(size), func(b *testing.B) {
			s := slot.NewFile("a", filepath.Join(b.TempDir(), "a.img"), size)
			img := bytes.Repeat([]byte("patchbay"), int(size/8))
			sum := sha256.Sum256(img)
			b.SetBytes(size)
			for b.Loop() {
				if err := slot.Write(b.Context(), s, bytes.NewReader(img), size); err != nil {
					b.Fatal(err)
				}
				if err := slot.Verify(b.Context(), s, size, sum[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFileWrite measures the streaming write alone.
func BenchmarkFileWrite(b *testing.B) {
	const size = 16 << 20
	s := slot.NewFile("a", filepath.Join(b.TempDir(), "a.img"), size)
	img := bytes.Repeat([]byte("patchbay"), size/8)
	b.SetBytes(size)
	for b.Loop() {
		if err := slot.Write(b.Context(), s, bytes.NewReader(img), size); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFileVerify measures the read-back and hash alone.
func BenchmarkFileVerify(b *testing.B) {
	const size = 16 << 20
	s := slot.NewFile("a", filepath.Join(b.TempDir(), "a.img"), size)
	img := bytes.Repeat([]byte("patchbay"), size/8)
	sum := sha256.Sum256(img)
	if err := slot.Write(b.Context(), s, bytes.NewReader(img), size); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	for b.Loop() {
		if err := slot.Verify(b.Context(), s, size, sum[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func byteSize(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}
