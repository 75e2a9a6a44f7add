// Package sim is a simulated A/B device for tests, the power-cut campaign
// and demos: two file-backed firmware slots, a redundant file-backed U-Boot
// environment written with firmware/bootenv (so fw_printenv -c reads it),
// a model of U-Boot's boot counting that picks the slot to boot, a kernel
// command line file that tells the agent which slot is running, and a
// health file ("ok" or "fails") and HTTP handler that say whether the
// running image is healthy.
//
// The boot loader model is U-Boot's CONFIG_BOOTCOUNT_LIMIT with
// CONFIG_BOOTCOUNT_ENV (drivers/bootcount/bootcount_env.c and
// common/autoboot.c): on every power-on, if upgrade_available=1 then
// bootcount is incremented and saved (saveenv); if bootlimit is set and
// bootcount exceeds it, altbootcmd runs instead of bootcmd. The model of
// altbootcmd is the script boards provision: select the other slot, set
// upgrade_available=0, saveenv, boot. A boot that lands on a slot whose
// image does not verify (see Inspect) is a failed boot: the board resets
// and the loop starts again, as a watchdog would make it. A device whose
// boot loader can reach no verified image is bricked (Bricked says so
// without changing anything).
//
// Images have a small header (see Image) naming the board, the version, a
// marker that makes the image boot but fail its health checks, and the
// SHA-256 of the payload, which the boot loader checks as U-Boot checks a
// FIT image's hashes.
//
// It does not run an agent; the caller does (agent/install against the
// device's slots, environment and command line). A Device is safe for use
// by one process at a time; the environment is locked with a lock file
// shared with the agent's processes.
package sim
