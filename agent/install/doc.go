// Package install installs signed firmware and app updates on a device so
// that a power cut at any instant resumes the update or rolls it back, and
// never leaves the device without a slot its boot loader can boot.
//
// # State machine
//
// Each update is a walk through an explicit transition table (state.go),
// one for firmware and one for apps:
//
//	firmware: idle → downloading → staged → switching → rebooting → trial → committing → committed
//	app:      idle → downloading → staged → switching → restarting → trial → committing → committed
//	          downloading, staged → failed           (the old version never stopped)
//	          switching → failed                     (only while the switch is known not written)
//	          switching, rebooting, restarting, trial, committing → rolling-back → rolled-back
//
// Every transition is written to the journal before it takes effect.
// Every state caps how often its work may start (a restart after a power
// cut starts it again); when the attempts run out the update moves to the
// state the table names, with reason attempts-exceeded:<state>. A
// download's attempts count from its last checkpoint, since progress is
// not a loop.
//
// Firmware follows U-Boot's boot counting. The image is streamed into the
// slot that is not running (the running one is told by Options.Booted,
// e.g. the kernel command line), made durable and read back before the
// environment may select it. The download hashes the bytes from the
// network against the signed SHA-256 while it writes them; a slot wrapped
// with NewResumable reads every chunk back as soon as it is written (and
// the first block after Commit) and compares it with what was written, so
// the slot need not be read and hashed a second time. Other slots are read
// back whole and their SHA-256 compared with the signed one. The
// switch is one write of the environment: the board's slot variable,
// upgrade_available=1 and bootcount=0. bootlimit and altbootcmd are set
// once by provisioning; an environment without them is refused
// (bootenv-unprepared). After the reboot the trial boot is recognised by
// the journal and by the running slot; the health checks (the board
// profile's and the configuration's: commands, HTTP probes and a round
// trip to the gateway) run within TrialTimeout, and the update commits
// (upgrade_available=0, bootcount=0, one write) or rolls back (the old
// slot, upgrade_available=0, bootcount=0, one write, then a reboot). If
// the boot loader already fell back, the update is rolled back with reason
// boot-limit-reached. Only a committed update is reported "installed".
//
// Apps (targets of kind app) are tar archives (see apptar.go for the
// format) unpacked into <apps>/<name>/<version>/; the switch renames a new
// "current" symlink over the old one, the service is restarted with the
// configured command, and a failed restart or health check points
// "current" back.
//
// # Journal
//
// The journal is JSON in <state dir>/install.json, replaced by writing a
// temporary file, fsync, rename and fsync of the directory. Its "version"
// field is JournalVersion; a later version is refused (ErrJournalVersion),
// a journal that does not decode is set aside and reported
// (journal-corrupt). State, kind and reason values are strings:
//
//	{"version": 1, "id": "9f2c…", "kind": "firmware", "state": "downloading",
//	 "attempts": {"downloading": 1}, "target": {"name": "fw/sim-1.0.3.bin",
//	 "version": "1.0.3", "length": 1048576, "sha256": "…"},
//	 "from_version": "1.0.2", "from_slot": "A", "to_slot": "B", "written": 524288,
//	 "started": "…", "updated": "…"}
//
// "written" is the download checkpoint, updated every
// Options.CheckpointBytes (4 MiB by default), and at most once per
// Options.CheckpointInterval (1 s by default), after the slot is synced,
// never per write, to spare the flash and to keep syncs from setting the
// pace of a fast download. A restarted download asks for the
// rest with an HTTP range request and hashes the bytes already in the slot
// again (read back from it). Slots wrapped with NewResumable can do that;
// on other slots the image is written again from its first byte.
//
// # Errors
//
// Install and Resume return an *Error with the Reason of an update that
// ended failed or rolled back, ErrBusy while another update runs, and
// other errors when a step must be tried again later (the state is kept;
// call Resume). Bad input — a truncated or corrupted download, an image
// for another board, a failing slot, a corrupt boot environment, a full
// disk — fails the update with its reason and leaves the running slot
// untouched and selected.
//
// It does not choose targets or decide when to install (trust and the
// agent's policy do), open devices (the caller builds slots and the boot
// environment from the board profile) or send reports (a Reporter does).
// An Engine is not safe for concurrent use; one process at a time may use
// a state directory.
package install
