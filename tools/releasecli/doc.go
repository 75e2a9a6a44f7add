// Package releasecli is the command line of patchbay-release, the release
// engineer's tool for Patchbay's TUF repository (tools/release does the
// work). Run takes the arguments without the program name and the three
// standard streams, so tests drive the real command in-process; it never
// exits the process.
//
// Output for people goes to stdout, one line per fact; list, publish,
// rotate and verify print JSON with --json. Warnings and, with --verbose,
// progress go to stderr as log lines.
package releasecli
