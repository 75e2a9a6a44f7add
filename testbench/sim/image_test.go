package sim

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchbay.dev/firmware/slot"
)

func TestHeaderRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		im   Image
	}{
		{"healthy", Image{Board: "b", Version: "1.0.0", PayloadLength: 3, PayloadSHA256: [32]byte{1, 2}}},
		{"unwell", Image{Board: DefaultBoard, Version: "23.05.3-rc1", HealthFails: true}},
		{"longest names", Image{Board: string(bytes.Repeat([]byte("b"), boardLen)), Version: string(bytes.Repeat([]byte("v"), versionLen))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := tt.im.Header()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseHeader(h)
			if err != nil {
				t.Fatalf("ParseHeader(Header()) = %v", err)
			}
			if diff := cmp.Diff(tt.im, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseHeaderRejects(t *testing.T) {
	good, err := Image{Board: "b", Version: "1"}.Header()
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(h []byte)) []byte { h := bytes.Clone(good); f(h); return h }
	tests := []struct {
		name string
		h    []byte
	}{
		{"short", good[:100]},
		{"zeros", make([]byte, HeaderSize)},
		{"bad magic", mutate(func(h []byte) { h[0] = 'X' })},
		{"flipped board byte", mutate(func(h []byte) { h[boardOff] ^= 1 })},
		{"flipped crc", mutate(func(h []byte) { h[crcOff] ^= 1 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseHeader(tt.h); !errors.Is(err, ErrNoImage) {
				t.Errorf("ParseHeader = %v, want ErrNoImage", err)
			}
		})
	}
}

func FuzzParseHeader(f *testing.F) {
	good, _ := Image{Board: "b", Version: "1", HealthFails: true, PayloadLength: 9}.Header()
	f.Add(good)
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, h []byte) {
		im, err := ParseHeader(h)
		if err != nil {
			return
		}
		again, err := im.Header()
		if err != nil {
			t.Fatalf("parsed %+v does not encode: %v", im, err)
		}
		if back, err := ParseHeader(again); err != nil || back != im {
			t.Fatalf("re-encoded header parses as %+v, %v; want %+v", back, err, im)
		}
	})
}

func TestInspect(t *testing.T) {
	payload := bytes.Repeat([]byte("firmware"), 10000)
	img, err := Build("b", "2.0", payload, false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		data  []byte
		board string
		ok    bool
	}{
		{"whole image", img, "b", true},
		{"another board", img, "c", false},
		{"payload cut short", img[:len(img)-1], "b", false},
		{"payload byte flipped", func() []byte { c := bytes.Clone(img); c[HeaderSize+5] ^= 1; return c }(), "b", false},
		{"head block zero (interrupted write)", func() []byte { c := bytes.Clone(img); clear(c[:4096]); return c }(), "b", false},
		{"empty slot", nil, "b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := slot.NewFile("A", filepath.Join(t.TempDir(), "a.img"), 1<<20)
			if err := slot.Write(t.Context(), s, bytes.NewReader(tt.data), int64(len(tt.data))); err != nil {
				t.Fatal(err)
			}
			im, err := Inspect(t.Context(), s, tt.board)
			if tt.ok && (err != nil || im.Version != "2.0") {
				t.Fatalf("Inspect = %+v, %v; want version 2.0", im, err)
			}
			if !tt.ok && !errors.Is(err, ErrNoImage) {
				t.Fatalf("Inspect = %+v, %v; want ErrNoImage", im, err)
			}
		})
	}
}
