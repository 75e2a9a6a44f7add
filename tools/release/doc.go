// Package release keeps a TUF repository of firmware and app images for
// the release engineer: create it with its keys, add images as targets
// with Patchbay metadata (firmware/meta), delegate a vendor's or board
// family's paths to its own keys, publish the signed metadata as static
// files any web server or CDN can serve, re-sign the timestamp from cron,
// rotate keys (for root, the chain of N.root.json versions clients
// follow), and verify a published repository the way a device would.
//
// Metadata is made and signed with go-tuf v2's metadata package; signing
// goes through the Signer interface, implemented here by key files, so an
// HSM or a KMS can sign instead. It implements the repository side of the
// TUF specification 1.0 (https://theupdateframework.github.io/specification/latest/),
// with consistent snapshots by default.
//
// # Layout
//
// A repository's working state lives in a directory (REPO); the keys may
// live elsewhere, and the root keys apart again, e.g. on removable media
// kept offline:
//
//	REPO/patchbay-release.json    settings: expiry period of each role
//	REPO/staged/N.root.json       every root version, 1 … newest
//	REPO/staged/targets.json      targets and delegated roles as last signed
//	REPO/staged/ROLE.json         (one per delegated role)
//	REPO/staged/snapshot.json     snapshot and timestamp as last published
//	REPO/staged/timestamp.json
//	REPO/public/                  what the web server serves, written by publish:
//	  metadata/N.root.json        the root chain, and root.json, the newest
//	  metadata/timestamp.json
//	  metadata/V.snapshot.json    consistent-snapshot names (V = version)
//	  metadata/V.targets.json     … and V.ROLE.json per delegated role
//	  targets/DIR/SHA256.NAME     images under their SHA-256 (consistent snapshots);
//	                              DIR/NAME is the target path
//	KEYS/ROLE-KEYID.pem           PKCS#8 private keys, mode 0600, dir 0700
//	ROOTKEYS/root-KEYID.pem       (KEYS unless given; keep it offline)
//
// Changes (add, remove, delegate, rotate) are signed into staged/ at once;
// devices see them after publish. Published files are never rewritten
// except root.json and timestamp.json, so a device in the middle of an
// update always finds the versions it was promised.
//
// A Repo is not safe for concurrent use, and one process at a time may
// work on a repository directory.
package release
