// Package cli is the patchbay-agent command line: the daemon ("run"), the
// configuration check, the TUF client for operators and tests ("tuf") and
// "version". main calls Run; tests call it too, so they drive the real CLI.
//
// It parses arguments and wires parts together; the work is done by the
// packages it calls.
package cli
