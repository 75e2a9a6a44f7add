// Package buildinfo holds the identity of a Patchbay binary: its release
// version, source commit and build date, set at link time with -ldflags -X,
// plus the GOOS/GOARCH it was built for.
//
// It is responsible only for reporting those facts; it does not compare
// versions (see firmware/version). Safe for concurrent use: the values are
// read-only after link time.
package buildinfo
