// Package discover finds out what firmware the devices an agent looks after
// are running. For now that is its SNMP neighbours: SNMPClient reads a
// device's MIB over SNMPv2c or SNMPv3 (RFC 3416 operations, RFC 3414 USM)
// with gosnmp, and implements boards.SNMPReader, so board profiles identify
// the device from what it answers. The agent's own firmware (os-release,
// device tree, boot environment) and serial-attached microcontrollers
// (SMP, console) come later.
//
// It reads; it never writes to a device (no SNMP SET) and does not decide
// what a reading means: matching variables to a board profile is boards',
// and choosing an update is the agent's. Every call takes its deadline from
// its context; nothing is retried beyond the target's bounded Retries, and
// a walk stops at a cap or as soon as a device stops returning increasing
// OIDs. Credentials (communities, passphrases) never appear in logs or
// error messages. An SNMPClient is immutable and safe for concurrent use.
package discover
