// Package selfupdate replaces the agent's own binary with a signed target
// of kind "agent": the image is downloaded and verified against its TUF
// length and hashes into a file beside the binary, then swapped in with
// github.com/minio/selfupdate, which checks the SHA-256 once more, renames
// the new file over the old one and puts the old one back if that fails.
//
// It replaces the file only; restarting the agent (the service manager,
// or the agent exiting for it) and a health check of the new agent belong
// to the caller. Not safe for concurrent use on the same binary.
package selfupdate
