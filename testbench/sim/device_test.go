package sim

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"patchbay.dev/firmware/bootenv"
	"patchbay.dev/firmware/slot"
)

func newDevice(t *testing.T) *Device {
	t.Helper()
	img, err := Build(DefaultBoard, "1.0.0", bytes.Repeat([]byte{7}, 5000), false)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Create(t.Context(), Config{Dir: t.TempDir(), SlotSize: 1 << 20}, img)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func writeSlot(t *testing.T, d *Device, name, version string, unwell bool) {
	t.Helper()
	img, err := Build(d.Board(), version, bytes.Repeat([]byte(version), 3000), unwell)
	if err != nil {
		t.Fatal(err)
	}
	if err := slot.Write(t.Context(), d.Slot(name), bytes.NewReader(img), int64(len(img))); err != nil {
		t.Fatal(err)
	}
}

func apply(t *testing.T, d *Device, kv ...string) {
	t.Helper()
	c := bootenv.Changes{}
	for i := 0; i < len(kv); i += 2 {
		c.Set(kv[i], kv[i+1])
	}
	if _, err := d.Env().Apply(t.Context(), c); err != nil {
		t.Fatal(err)
	}
}

func running(t *testing.T, d *Device) (string, string) {
	t.Helper()
	value, im, err := d.Running(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return value, im.Version
}

func TestCreateBootsSlotA(t *testing.T) {
	d := newDevice(t)
	if s, v := running(t, d); s != "A" || v != "1.0.0" {
		t.Errorf("after Create running %s %s, want A 1.0.0", s, v)
	}
	if bricked, why := d.Bricked(t.Context()); bricked {
		t.Errorf("new device bricked: %s", why)
	}
	if err := d.Health(t.Context()); err != nil {
		t.Errorf("Health = %v", err)
	}
}

func TestTrialAndFallback(t *testing.T) {
	tests := []struct {
		name        string
		image       bool // slot B holds a verified image
		wantSlot    string
		wantPowerOn int
	}{
		{"good image boots on trial", true, "B", 1},
		{"half-written image falls back after the limit", false, "A", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDevice(t)
			if tt.image {
				writeSlot(t, d, "B", "2.0.0", false)
			}
			apply(t, d, SlotVariable, "B", VarUpgradeAvailable, "1", VarBootcount, "0")
			b, err := d.Boot(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if b.Slot != tt.wantSlot || b.PowerOns != tt.wantPowerOn {
				t.Errorf("Boot = slot %s after %d power-ons, want %s after %d", b.Slot, b.PowerOns, tt.wantSlot, tt.wantPowerOn)
			}
			if s, _ := running(t, d); s != tt.wantSlot {
				t.Errorf("command line says %s, want %s", s, tt.wantSlot)
			}
		})
	}
}

func TestTrialCountsAcrossBoots(t *testing.T) {
	d := newDevice(t)
	writeSlot(t, d, "B", "2.0.0", true)
	apply(t, d, SlotVariable, "B", VarUpgradeAvailable, "1", VarBootcount, "0")
	var slots []string
	for range 5 {
		b, err := d.Boot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		slots = append(slots, b.Slot)
	}
	if got, want := strings.Join(slots, ""), "BBBAA"; got != want {
		t.Errorf("slots booted by 5 boots of an uncommitted trial = %s, want %s", got, want)
	}
	if err := d.Health(t.Context()); err != nil {
		t.Errorf("after the fallback Health = %v", err)
	}
}

func TestBricked(t *testing.T) {
	d := newDevice(t)
	if err := d.Slot("A").Invalidate(t.Context()); err != nil {
		t.Fatal(err)
	}
	bricked, why := d.Bricked(t.Context())
	if !bricked || !strings.Contains(why, "no verified image") {
		t.Errorf("Bricked with slot A invalid and selected = %v, %q", bricked, why)
	}
	if _, err := d.Boot(t.Context()); !errors.Is(err, ErrBricked) {
		t.Errorf("Boot = %v, want ErrBricked", err)
	}
	for _, f := range d.EnvCopies() {
		if err := os.WriteFile(f, []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if bricked, _ := d.Bricked(t.Context()); !bricked {
		t.Error("Bricked with both environment copies destroyed = false")
	}
}

func TestUnhealthyImage(t *testing.T) {
	d := newDevice(t)
	writeSlot(t, d, "B", "2.0.0", true)
	apply(t, d, SlotVariable, "B")
	if _, err := d.Boot(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := d.Health(t.Context()); !errors.Is(err, ErrUnhealthy) {
		t.Errorf("Health = %v, want ErrUnhealthy", err)
	}
	if b, err := os.ReadFile(d.HealthFile()); err != nil || string(b) != "fails\n" {
		t.Errorf("health file = %q, %v; want fails", b, err)
	}
	rec := httptest.NewRecorder()
	d.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("health handler answered %d, want 503", rec.Code)
	}
}

// TestFWPrintenvReadsEnvironment checks the environment with the real
// libubootenv tool.
func TestFWPrintenvReadsEnvironment(t *testing.T) {
	tool, err := exec.LookPath("fw_printenv")
	if err != nil {
		t.Fatal("fw_printenv not found: install the Debian package libubootenv-tool")
	}
	d := newDevice(t)
	apply(t, d, SlotVariable, "B", VarUpgradeAvailable, "1")
	out, err := exec.CommandContext(t.Context(), tool, "-c", d.FWEnvConfig()).CombinedOutput()
	if err != nil {
		t.Fatalf("fw_printenv: %v: %s", err, out)
	}
	for _, want := range []string{SlotVariable + "=B\n", "upgrade_available=1\n", "bootlimit=3\n", "altbootcmd=if test"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("fw_printenv output lacks %q:\n%s", want, out)
		}
	}
}
