// Package version compares firmware and software version strings by the
// scheme a board profile names: semantic versioning (SemVer 2.0.0), dotted
// numeric versions as vendors and OpenWrt use them ("23.05.3",
// "21.02.0-rc4", "W.15.08.0012"), or a regular expression whose capture
// groups are compared in order (Cisco's "15.2(7)E8").
//
// It decides order only; which versions may be installed is firmware/meta's
// and the agent's business. Scheme values are immutable after Compile and
// safe for concurrent use.
package version
