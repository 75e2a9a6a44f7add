package slot_test

import (
	"bytes"
	"crypto/sha256"
	"path/filepath"
	"testing"

	"patchbay.dev/firmware/slot"
)

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"short", &slot.LengthError{Slot: "b", Want: 100, Got: 60}, "slot b: image ended after 60 bytes, want 100"},
		{"long", &slot.LengthError{Slot: "b", Want: 100, Got: 101}, "slot b: image longer than its declared 100 bytes (got 101)"},
		{"hash", &slot.HashMismatchError{Slot: "a", Length: 3, Want: []byte{0xab}, Got: []byte{0xcd}}, "slot a: sha256 of 3 bytes is cd, want ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestVerifyPrefix checks that Verify hashes the image only, not whatever
// follows it in the slot.
func TestVerifyPrefix(t *testing.T) {
	s := slot.NewFile("a", filepath.Join(t.TempDir(), "a.img"), 1<<20)
	img := bytes.Repeat([]byte{7}, 5000)
	if err := slot.Write(t.Context(), s, bytes.NewReader(img), int64(len(img))); err != nil {
		t.Fatal(err)
	}
	head := sha256.Sum256(img[:4000])
	if err := slot.Verify(t.Context(), s, 4000, head[:]); err != nil {
		t.Errorf("Verify of the first 4000 bytes = %v", err)
	}
	whole := sha256.Sum256(append(bytes.Clone(img), 0))
	if err := slot.Verify(t.Context(), s, 5001, whole[:]); err == nil {
		t.Error("Verify beyond the end of the file succeeded")
	}
}
