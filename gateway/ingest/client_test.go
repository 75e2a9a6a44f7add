package ingest_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"patchbay.dev/gateway/ingest"
)

func TestClientConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  ingest.ClientConfig
		want []string // in the error; none for valid
	}{
		{"tcp", ingest.ClientConfig{URL: "tcp://127.0.0.1:1883", ClientID: "gw-1"}, nil},
		{"mqtts", ingest.ClientConfig{URL: "mqtts://broker.example:8883", ClientID: "gw-1", Group: "fleet-a"}, nil},
		{"no URL", ingest.ClientConfig{ClientID: "gw-1"}, []string{"URL is empty"}},
		{"http", ingest.ClientConfig{URL: "http://h:80", ClientID: "gw-1"}, []string{"scheme"}},
		{"no port", ingest.ClientConfig{URL: "tcp://h", ClientID: "gw-1"}, []string{"needs a port"}},
		{"no client ID", ingest.ClientConfig{URL: "tcp://h:1"}, []string{"client ID"}},
		{"wildcard group", ingest.ClientConfig{URL: "tcp://h:1", ClientID: "gw", Group: "a/+"}, []string{"group"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != (len(tt.want) == 0) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestClientConfigLogsNoPassword(t *testing.T) {
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "mqtt", ingest.ClientConfig{URL: "tcp://h:1", Username: "gw", Password: "hunter2"})
	if strings.Contains(b.String(), "hunter2") {
		t.Errorf("log shows the password: %s", b.String())
	}
}
