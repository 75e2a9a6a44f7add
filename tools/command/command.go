package command

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"patchbay.dev/firmware/buildinfo"
)

// ErrUsage marks an error in how a command was called: an unknown command or
// flag, a missing argument. ExitCode maps it to status 2.
var ErrUsage = errors.New("usage")

// UsageError reports a bad call, naming what was wrong.
type UsageError struct {
	Command string
	Problem string
}

func (e *UsageError) Error() string {
	return e.Command + ": " + e.Problem + " (see '" + e.Command + " --help')"
}

// Is makes errors.Is(err, ErrUsage) true.
func (e *UsageError) Is(target error) bool { return target == ErrUsage }

// IO is what a command reads from and writes to.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Command is one node of a binary's command tree.
type Command struct {
	Name  string // the word that selects it
	Args  string // synopsis of positional arguments, e.g. "FILE…"
	Short string // one line for the parent's list
	Long  string // paragraphs for --help

	// Flags registers the command's flags. Flags of a command with
	// subcommands come before the subcommand's name.
	Flags func(fs *flag.FlagSet)
	// Run does the work with the positional arguments left after flags.
	// A command with Subcommands and no Run requires a subcommand.
	Run         func(ctx context.Context, stdio IO, args []string) error
	Subcommands []*Command
}

// Execute parses args for c and runs it or the subcommand they name.
// "--help" and "-h" print help to stdout and return nil.
func (c *Command) Execute(ctx context.Context, args []string, stdio IO) error {
	return c.execute(ctx, c.Name, args, stdio)
}

func (c *Command) execute(ctx context.Context, path string, args []string, stdio IO) error {
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c.Flags != nil {
		c.Flags(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.help(stdio.Stdout, path, fs)
			return nil
		}
		return &UsageError{Command: path, Problem: err.Error()}
	}
	rest := fs.Args()
	if len(c.Subcommands) > 0 && len(rest) > 0 {
		if rest[0] == "help" {
			c.help(stdio.Stdout, path, fs)
			return nil
		}
		for _, sub := range c.Subcommands {
			if sub.Name == rest[0] {
				return sub.execute(ctx, path+" "+sub.Name, rest[1:], stdio)
			}
		}
		if c.Run == nil {
			return &UsageError{Command: path, Problem: fmt.Sprintf("unknown command %q", rest[0])}
		}
	}
	if c.Run == nil {
		c.help(stdio.Stderr, path, fs)
		return &UsageError{Command: path, Problem: "a command is required"}
	}
	return c.Run(ctx, stdio, rest)
}

func (c *Command) help(w io.Writer, path string, fs *flag.FlagSet) {
	synopsis := path
	if c.Flags != nil {
		synopsis += " [flags]"
	}
	if len(c.Subcommands) > 0 {
		synopsis += " COMMAND"
	}
	if c.Args != "" {
		synopsis += " " + c.Args
	}
	fmt.Fprintf(w, "Usage: %s\n", synopsis)
	if c.Short != "" {
		fmt.Fprintf(w, "\n%s\n", c.Short)
	}
	if c.Long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.Long))
	}
	if len(c.Subcommands) > 0 {
		fmt.Fprintf(w, "\nCommands:\n")
		subs := append([]*Command(nil), c.Subcommands...)
		sort.Slice(subs, func(i, j int) bool { return subs[i].Name < subs[j].Name })
		for _, s := range subs {
			fmt.Fprintf(w, "  %-12s %s\n", s.Name, s.Short)
		}
	}
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// Version returns the "version" command of the binary named binary.
func Version(binary string) *Command {
	var asJSON bool
	return &Command{
		Name:  "version",
		Short: "print version, commit, build date and target",
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print as JSON")
		},
		Run: func(_ context.Context, stdio IO, args []string) error {
			if len(args) > 0 {
				return &UsageError{Command: binary + " version", Problem: "takes no arguments"}
			}
			info := buildinfo.Read(binary)
			if asJSON {
				enc := json.NewEncoder(stdio.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			_, err := fmt.Fprintln(stdio.Stdout, info)
			return err
		},
	}
}

// StatusError is an outcome a command reports with its own exit status.
type StatusError struct {
	Status int
	Err    error
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }

// ExitCode maps an Execute error to a process exit status: 0 for nil, a
// StatusError's own, 2 for usage errors, 130 for cancellation, 1 otherwise.
func ExitCode(err error) int {
	var se *StatusError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &se):
		return se.Status
	case errors.Is(err, ErrUsage):
		return 2
	case errors.Is(err, context.Canceled):
		return 130
	default:
		return 1
	}
}
