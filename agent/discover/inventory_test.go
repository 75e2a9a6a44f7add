package discover

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"patchbay.dev/agent/config"
	"patchbay.dev/boards"
	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/testbench/services"
	"patchbay.dev/testbench/snmprec"
)

// recordingVars reads a real recording (../shared/testdata/snmprec, or
// PATCHBAY_SNMPREC_DIR) in place, as variables snmpd can serve.
func recordingVars(t *testing.T, name string) []boards.SNMPVar {
	t.Helper()
	dir := os.Getenv("PATCHBAY_SNMPREC_DIR")
	if dir == "" {
		dir = "../../../shared/testdata/snmprec"
	}
	rec, err := snmprec.ReadFile(filepath.Join(dir, name+".snmprec"))
	if err != nil {
		t.Fatalf("%v (the real recordings live in ../shared/testdata/snmprec beside the checkout; set PATCHBAY_SNMPREC_DIR to use another directory)", err)
	}
	all, err := rec.Walk(t.Context(), "1.3")
	if err != nil {
		t.Fatal(err)
	}
	vars := all[:0]
	for _, v := range all {
		if v.Type != boards.SNMPTypeNull { // snmpd's pass_persist cannot serve NULL
			vars = append(vars, v)
		}
	}
	return vars
}

// closedUDPAddr is a loopback port nothing answers on.
func closedUDPAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	c.Close()
	return addr
}

// Discovery through the real SNMP stack: snmpd serves real devices'
// recordings, the agent's inventory identifies each and reads its version.
func TestInventoryRealSNMPD(t *testing.T) {
	set, err := boards.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	routeros := services.StartSNMPD(t, services.SNMPDConfig{Community: "ro-mikrotik", Vars: recordingVars(t, "routeros_rb5009upr+s+")})
	openwrt := services.StartSNMPD(t, services.SNMPDConfig{Community: "ro-openwrt", Vars: recordingVars(t, "openwrt")})
	dead := closedUDPAddr(t)

	cfg := config.Default()
	cfg.DeviceID, cfg.Tenant, cfg.Site = "gw-1", "acme", "hq"
	cfg.Discovery.SNMP = []config.SNMPTarget{
		{Name: "rb5009", Address: routeros.Addr, Version: "2c", Community: "ro-mikrotik", Timeout: config.Duration(2 * time.Second)},
		{Name: "wrt1200", Address: openwrt.Addr, Version: "2c", Community: "ro-openwrt", Timeout: config.Duration(2 * time.Second)},
		{Name: "wrong-community", Address: openwrt.Addr, Version: "2c", Community: "guess", Timeout: config.Duration(300 * time.Millisecond)},
		{Name: "nobody-home", Address: dead, Version: "2c", Community: "public", Timeout: config.Duration(300 * time.Millisecond)},
	}
	root := fstest.MapFS{
		"etc/openwrt_release": {Data: []byte("DISTRIB_ID='OpenWrt'\nDISTRIB_RELEASE='23.05.2'\nDISTRIB_TARGET='ath79/generic'\n")},
	}
	got, err := Inventory(t.Context(), cfg, set, root, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	want := []telemetry.Component{
		{ID: "self", Kind: "firmware", Board: "openwrt-ath79-generic", Version: "23.05.2"},
		{ID: "rb5009", Kind: "snmp", Board: "mikrotik-routeros", Version: "7.20.6", Address: routeros.Addr},
		{ID: "wrt1200", Kind: "snmp", Board: "openwrt-mvebu-linksys-wrt", Version: "21.02.0-rc4", Address: openwrt.Addr},
		{ID: "wrong-community", Kind: "snmp", Address: openwrt.Addr, Unknown: true},
		{ID: "nobody-home", Kind: "snmp", Address: dead, Unknown: true},
	}
	ignore := cmpopts.IgnoreFields(telemetry.Component{}, "Vendor", "Model", "Detail")
	if diff := cmp.Diff(want, got, ignore); diff != "" {
		t.Errorf("Inventory (-want +got):\n%s", diff)
	}
	for _, c := range got {
		if c.Unknown && c.Detail == "" {
			t.Errorf("component %s is unknown without saying why", c.ID)
		}
	}
}

func TestSelfPinnedBoard(t *testing.T) {
	set, err := boards.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Board = "no-such-board"
	if _, err := Self(context.Background(), cfg, set, fstest.MapFS{}); err == nil {
		t.Error("Self with an unknown pinned board succeeded, want an error naming it")
	}
	cfg.Board = "rpi-arm64-gateway"
	c, err := Self(context.Background(), cfg, set, fstest.MapFS{})
	if err != nil || c.Board != "rpi-arm64-gateway" || c.Unknown {
		t.Errorf("Self with pinned board = %+v, %v; want board rpi-arm64-gateway", c, err)
	}
}
