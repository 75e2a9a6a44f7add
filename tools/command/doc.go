// Package command is the small subcommand tree the Patchbay binaries share:
// named commands, each with its own flag set and help, nested under the
// binary's root, plus the "version" command every binary has.
//
// It parses arguments and dispatches; what a command does is up to its Run.
// It never exits the process: Execute returns an error, and main maps it to
// an exit status with ExitCode. A Command tree is built once and is not safe
// for concurrent Execute calls (flag sets hold parsed values).
package command
