// Package meta is Patchbay's metadata about one TUF target: the object under
// the "patchbay" key of the target's custom field in targets.json, which says
// what the image is (firmware, app or agent), which board profiles it fits,
// its version, the CVEs it closes with their CVSS v3.x vector, whether they
// are known exploited (KEV), and the rules for installing it (reboot,
// minimum installed version, downgrade, end of life).
//
// Decoding is strict: unknown fields, wrong types and invalid values are
// errors that name the field (a *FieldError, which matches ErrInvalid).
// Target values come from signed metadata on the device (JSON, Decode) and
// from release engineers' files for the release tool (YAML, DecodeYAML);
// both decoders face outside bytes and are fuzzed.
//
// The severity of a target derives from its CVSS vector: the package
// computes the CVSS v3.0/v3.1 base score with the formulas of FIRST's
// specification (https://www.first.org/cvss/v3.1/specification-document,
// section 7 and appendix A) and maps it to the qualitative rating
// none/low/medium/high/critical.
//
// It does not decide what a device may install: version order is
// firmware/version's business and the choice of a target for a device is
// firmware/trust's. Values are plain data, safe for concurrent reads.
package meta
