package cli_test

import (
	"strings"
	"testing"
	"time"

	"patchbay.dev/firmware/telemetry"
	"patchbay.dev/gateway/broker/brokertest"
	"patchbay.dev/gateway/ingest/ingesttest"
	"patchbay.dev/gateway/pki"
	"patchbay.dev/testbench/services"
)

const ackTimeout = 30 * time.Second

func checkAPI(t *testing.T, httpAddr string, d *ingesttest.Device) {
	t.Helper()
	v := getDevice(t, httpAddr, d.Tenant, d.ID, 1000)
	if v.Device.AckSeq != d.Seq() || len(v.Events) != int(d.Seq()) || v.Device.Status != telemetry.Online {
		t.Errorf("API: device %s/%s ack %d, %d events, status %q; want ack %d, %d events, online",
			d.Tenant, d.ID, v.Device.AckSeq, len(v.Events), v.Device.Status, d.Seq(), d.Seq())
	}
}

func TestServeEmbeddedDev(t *testing.T) {
	httpAddr, mqttAddr := freeAddr(t), freeAddr(t)
	serve(t, httpAddr, "--store", t.TempDir()+"/fleet.db", "--mqtt-listen", mqttAddr, "--insecure-dev-auth", "--log-level", "warn")
	d := ingesttest.Connect(t, "tcp://"+mqttAddr, nil, "acme", "rtr-1")
	d.PublishState(t, &telemetry.State{Site: "hq", Board: "openwrt-ath79-generic", Time: time.Now().UTC(),
		Inventory: []telemetry.Component{{ID: "self", Kind: "firmware", Version: "23.05.2"}}})
	d.Send(t, 25)
	d.WaitAck(t, 0, ackTimeout)
	checkAPI(t, httpAddr, d)

	var list struct {
		Devices []struct{ ID, Version string }
	}
	getJSON(t, "http://"+httpAddr+"/api/v1/devices?tenant=acme&version=23.05.2", &list)
	if len(list.Devices) != 1 || list.Devices[0].ID != "rtr-1" {
		t.Errorf("GET /api/v1/devices?tenant=acme&version=23.05.2 = %+v, want rtr-1", list.Devices)
	}
	metrics := getText(t, "http://"+httpAddr+"/metrics")
	for _, want := range []string{
		"patchbay_ingest_events_stored_total 25\n",
		"patchbay_ingest_messages_malformed_total 0\n",
		"patchbay_broker_clients_connected 1\n",
		"patchbay_broker_connection_panics_total 0\n",
		"patchbay_store_events 25\n",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
}

// makePKI makes a CA, the broker's certificate, the gateway's client
// certificate, a device's, and the mosquitto ACL with the CLI.
func makePKI(t *testing.T, devices ...pki.Identity) pki.Dir {
	t.Helper()
	dir := t.TempDir()
	cmds := [][]string{
		{"pki", "init", "--dir", dir},
		{"pki", "server", "--dir", dir},
		{"pki", "service", "--dir", dir, pki.DefaultService},
		{"pki", "acl", "--dir", dir},
	}
	for _, id := range devices {
		cmds = append(cmds, []string{"pki", "device", "--dir", dir, id.Tenant, id.Device})
	}
	for _, args := range cmds {
		if _, err := run(t, args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	return pki.Dir(dir)
}

func TestServeEmbeddedTLS(t *testing.T) {
	dev := pki.Identity{Tenant: "acme", Device: "rtr-1"}
	dir := makePKI(t, dev)
	caFile, _ := dir.CA()
	certFile, keyFile := dir.Server()
	httpAddr, mqttAddr := freeAddr(t), freeAddr(t)
	serve(t, httpAddr, "--store", t.TempDir()+"/fleet.db", "--mqtt-listen", mqttAddr,
		"--tls-cert", certFile, "--tls-key", keyFile, "--tls-ca", caFile, "--log-level", "warn")
	d := ingesttest.Connect(t, "ssl://"+mqttAddr, brokertest.ClientTLS(t, dir, dev), dev.Tenant, dev.Device)
	d.Send(t, 10)
	d.WaitAck(t, 0, ackTimeout)
	checkAPI(t, httpAddr, d)
}

// TestServeExternalTLS runs the gateway against mosquitto over TLS, with
// the certificates and ACL file the CLI made: the gateway authenticates
// with its service certificate, the device with its own.
func TestServeExternalTLS(t *testing.T) {
	dev := pki.Identity{Tenant: "acme", Device: "rtr-1"}
	dir := makePKI(t, dev)
	caFile, _ := dir.CA()
	certFile, keyFile := dir.Server()
	m := services.StartMosquitto(t, services.MosquittoConfig{
		TLS: &services.MosquittoTLS{
			CAFile: caFile, CertFile: certFile, KeyFile: keyFile,
			RequireClientCert: true, UseIdentityAsUsername: true,
		},
		DenyAnonymous: true,
		ACLFile:       dir.ACL(),
		Extra:         []string{"use_username_as_clientid true"},
	})
	gwCert, gwKey := dir.Client(pki.Identity{Service: pki.DefaultService})
	httpAddr := freeAddr(t)
	serve(t, httpAddr, "--store", t.TempDir()+"/fleet.db", "--broker", m.URL, "--client-id", "gw-1",
		"--tls-cert", gwCert, "--tls-key", gwKey, "--tls-ca", caFile, "--log-level", "warn")
	d := ingesttest.Connect(t, m.URL, brokertest.ClientTLS(t, dir, dev), dev.Tenant, dev.Device)
	d.Send(t, 10)
	d.WaitAck(t, 0, ackTimeout)
	checkAPI(t, httpAddr, d)
	if metrics := getText(t, "http://"+httpAddr+"/metrics"); !strings.Contains(metrics, "patchbay_mqtt_connected 1\n") {
		t.Errorf("/metrics lacks patchbay_mqtt_connected 1:\n%s", metrics)
	}
}

// TestServePostgres runs the gateway on a PostgreSQL store.
func TestServePostgres(t *testing.T) {
	pg := services.StartPostgres(t)
	httpAddr, mqttAddr := freeAddr(t), freeAddr(t)
	serve(t, httpAddr, "--store", pg.DSN, "--mqtt-listen", mqttAddr, "--insecure-dev-auth", "--log-level", "warn")
	d := ingesttest.Connect(t, "tcp://"+mqttAddr, nil, "acme", "rtr-1")
	d.Send(t, 10)
	d.WaitAck(t, 0, ackTimeout)
	checkAPI(t, httpAddr, d)
}
