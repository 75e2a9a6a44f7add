// Package tufcli is the agent's "tuf" command: the device's TUF client
// (firmware/trust) driven by hand or by a test suite. Its flags and
// commands follow the client-under-test protocol of the TUF conformance
// suite (theupdateframework/tuf-conformance, CLIENT-CLI.md):
//
//	patchbay-agent tuf --metadata-dir DIR init TRUSTED_ROOT_FILE
//	patchbay-agent tuf --metadata-dir DIR --metadata-url URL refresh
//	patchbay-agent tuf --metadata-dir DIR --metadata-url URL \
//	    --target-name NAME --target-base-url URL --target-dir DIR download
//
// Every command returns nil on success and an error saying what failed
// otherwise, which the agent's main prints to stderr and maps to exit
// status 1. Downloaded targets are stored in the target directory under
// their URL-path-escaped name, written only after verification.
//
// It is meant for the agent binary: it imports nothing beyond
// firmware/trust and tools/command.
package tufcli
