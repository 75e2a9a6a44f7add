// Package cli is the patchbay-gateway command line: "serve" runs the
// gateway (embedded or external MQTT broker, ingest, fleet store, HTTP
// API), "pki" keeps the device CA and the certificates and mosquitto ACL
// made from it, and "version". main calls Run; tests call it too, so they
// drive the real CLI.
//
// It parses arguments and wires the parts together; the work is done by
// the packages it calls (gateway/broker, gateway/ingest, gateway/store,
// gateway/api, gateway/pki).
package cli
