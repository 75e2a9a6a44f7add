// Package snmprec reads snmpsim's ".snmprec" recordings of real SNMP agents
// and serves them as a boards.SNMPReader, so discovery and board profiles
// can be tested against what real devices answered.
//
// The format is one variable per line, "OID|TAG|VALUE", split on the first
// two '|' only (values may contain '|'). TAG is the BER type number
// (2 Integer32, 4 OCTET STRING, 5 NULL, 6 OBJECT IDENTIFIER, 64 IpAddress,
// 65 Counter32, 66 Gauge32, 67 TimeTicks, 68 Opaque, 70 Counter64); a
// trailing "x" on 4, 64 or 68 means the value is hex-encoded and a trailing
// "e" means it is written with backslash escapes (\n, \xHH, \\ …). Blank
// lines and lines starting with '#' are skipped. snmpsim's variation modules
// ("TAG:module") and any other tag are rejected with an error naming the
// file and line; the parser never panics on outside bytes (FuzzParse).
//
// Records are ordered by numeric sub-identifiers (1.9 before 1.10). When an
// OID is recorded twice, the first line wins and the later ones are kept
// aside (Recording.Duplicates), so a walk never repeats or loops.
//
// A Recording hands octet strings out exactly as recorded, including the
// literal '"' quotes some devices wrap their sysDescr in; stripping them is
// the reader's business (boards.Identify does it for every value it reads),
// just as with a live agent.
//
// It is not an SNMP agent: serving recordings over UDP is the simulator's
// job, which can build on Records. A Recording is immutable after Parse and
// safe for concurrent use.
package snmprec
