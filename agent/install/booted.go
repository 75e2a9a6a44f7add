package install

import (
	"context"
	"fmt"
	"os"
	"strings"

	"patchbay.dev/firmware/trust"
)

// CmdlineBooted returns a Booted function that reads the running slot
// from a kernel command line file (/proc/cmdline on a device): the value
// of its parameter key, which the board's bootcmd passes
// ("patchbay_slot=B"). Unlike the boot environment, the command line does
// not change until the next boot.
func CmdlineBooted(path, key string) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("running slot: %w", err)
		}
		value, found := "", false
		for f := range strings.FieldsSeq(string(data)) {
			if v, ok := strings.CutPrefix(f, key+"="); ok {
				value, found = v, true // the last one wins, as in the kernel
			}
		}
		if !found {
			return "", fmt.Errorf("running slot: %s has no %s= parameter; the board's bootcmd must pass it to the kernel", path, key)
		}
		return value, nil
	}
}

// CachedLookup returns a Lookup that finds a target in the trusted
// metadata already on the device, without network I/O: after a restart
// the update continues with the target it started with, still checked
// against signatures and expiry.
func CachedLookup(c *trust.Client) func(ctx context.Context, name string) (trust.Target, error) {
	return func(ctx context.Context, name string) (trust.Target, error) {
		s, err := c.Cached(ctx)
		if err != nil {
			return trust.Target{}, err
		}
		defer s.Close()
		return s.Target(ctx, name)
	}
}

// CommandRebooter returns a Rebooter that runs argv, such as a board
// profile's reboot command (["/sbin/reboot"]).
func CommandRebooter(argv []string) Rebooter {
	return RebootFunc(func(ctx context.Context) error {
		if len(argv) == 0 {
			return fmt.Errorf("reboot: no command configured")
		}
		return runCommand(ctx, argv)
	})
}
