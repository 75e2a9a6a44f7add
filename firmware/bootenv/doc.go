// Package bootenv reads and writes the U-Boot environment from Linux,
// byte-compatible with libubootenv's fw_printenv and fw_setenv, so that
// the agent can switch slots and commit updates through the variables
// U-Boot's boot counting uses (bootcount, bootlimit, upgrade_available,
// altbootcmd) while scripts on the device keep using the C tools.
//
// What it implements, as libubootenv 0.3 does (checked against the real
// tools by this package's tests):
//
//   - /etc/fw_env.config: one line per copy — device, offset, environment
//     size, sector size, number of sectors, and libubootenv's "disable
//     lock" column; '#' comments. The offset is a C integer (0x hex, 0
//     octal, decimal, negative counts back from the end of a block
//     device); every other number is hexadecimal, with or without 0x.
//     One line is a single environment, two lines a redundant one.
//   - A copy is a CRC-32 (IEEE) of the data area, then for redundant
//     environments a flag byte, then the data area: "name=value" entries,
//     each NUL-terminated, sorted by name, ended by an empty entry and
//     padded with NULs. The CRC is in the CPU's byte order, as U-Boot
//     writes it: little-endian on ARM and mipsel, big-endian on MIPS (see
//     Config.ByteOrder).
//   - Redundant copies: the copy with a valid CRC wins; if both are valid
//     the flags decide. Files, block devices and NAND use an incrementing
//     flag (the higher wins, 0 beats 0xFF after wrapping, equal flags mean
//     copy 0); NOR flash uses active (1) and obsolete (0) flags, and 0xFF
//     wins there. A write goes to the copy not in use, with the next flag;
//     on NOR the old copy's flag is then cleared to obsolete.
//   - U-Boot's ".flags" variable: variables it marks read-only ('r') or
//     write-once ('o') are not changed; Apply fails with ErrReadOnly
//     where fw_setenv silently ignores the change.
//   - The lock file /var/lock/fw_printenv.lock (flock), shared with the
//     C tools.
//
// Writes are ordered so that a power cut at any byte leaves a redundant
// environment valid, holding either the old or the new variables: the
// data area of the inactive copy is written and synced before its header,
// on flash after erasing it, and NOR's obsolete flag last. A single copy
// cannot be protected that way: a cut in the middle of its write leaves it
// invalid and U-Boot falls back to its built-in default environment. Apply
// does not write at all when nothing would change, since flash wears out.
//
// It does not know which variables mean what (the agent's install and
// confirm steps do), does not keep a default environment (fw_setenv's
// -f), and does not write UBI volumes (an error wrapping
// errors.ErrUnsupported). Store is safe for concurrent use; Env values are
// not.
package bootenv
