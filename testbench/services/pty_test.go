package services

import (
	"io"
	"os"
	"testing"
	"time"

	"go.bug.st/serial"
)

func openSerial(t *testing.T, path string) serial.Port {
	t.Helper()
	p, err := serial.Open(path, &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.SetReadTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPTYPair(t *testing.T) {
	t.Parallel()
	pair := StartPTYPair(t)
	a, b := openSerial(t, pair.A), openSerial(t, pair.B)

	for _, tt := range []struct {
		name     string
		from, to serial.Port
		msg      string
	}{
		{"a to b", a, b, "mcumgr image list\r\n"},
		{"b to a", b, a, "\x00\x01\x02\xff binary is fine\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.from.Write([]byte(tt.msg)); err != nil {
				t.Fatalf("write: %v", err)
			}
			got := make([]byte, len(tt.msg))
			if _, err := io.ReadFull(readerOf{tt.to}, got); err != nil {
				t.Fatalf("read: %v (socat log: %s)", err, pair.Log())
			}
			if string(got) != tt.msg {
				t.Errorf("read %q, want %q", got, tt.msg)
			}
		})
	}

	pair.Kill()
	for _, end := range []string{pair.A, pair.B} {
		if _, err := os.Stat(end); err == nil {
			t.Errorf("%s still exists after Kill", end)
		}
	}
}

// readerOf turns a serial port's timeout (a read of 0 bytes, nil error)
// into an error, so io.ReadFull cannot spin.
type readerOf struct{ p serial.Port }

func (r readerOf) Read(b []byte) (int, error) {
	n, err := r.p.Read(b)
	if n == 0 && err == nil {
		return 0, os.ErrDeadlineExceeded
	}
	return n, err
}
