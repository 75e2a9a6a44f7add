// Package cli is the patchbay-gateway command line. main calls Run; tests
// call it too, so they drive the real CLI. It wires the gateway's parts
// together; the work is done by the packages it calls.
package cli
