// Package trust is the device side of TUF (The Update Framework,
// specification 1.0, https://theupdateframework.github.io/specification/latest/):
// it keeps a device's trusted metadata up to date, tells which signed
// targets exist and which one a device may install, and streams a target
// from the repository through length and hash verification into a slot or
// a file. The agent uses it online; the technician's flash tool uses it
// offline against a copy of a published repository (DirRemote).
//
// Verification is go-tuf v2's (metadata/updater and trustedmetadata): this
// package supplies go-tuf with a fetcher that bounds every metadata fetch,
// persists what go-tuf verified durably, lists the targets of delegated
// roles, and downloads targets itself, because go-tuf's DownloadTarget
// holds the whole image in memory. Trusted metadata lives in one directory
// holding only <role>.json files (root.json, timestamp.json, snapshot.json,
// targets.json, one per delegated role). A refresh works on a staging copy
// next to it and moves each verified file in with write, fsync and rename,
// so a power cut leaves either the old or the new file, never a torn one.
// As the specification and go-tuf do, a role verified before a later step
// fails is kept (a newer root is persisted even if the timestamp then
// turns out expired); metadata that fails verification never replaces
// trusted metadata.
//
// Fetches go through a Remote: HTTPRemote over an injected HTTP client
// (NewHTTPClient builds one with timeouts; http.DefaultClient and
// http.DefaultTransport are never used) or DirRemote over a directory.
//
// Errors: *HashMismatchError and *LengthError mean the repository served
// something other than what was signed, and go-tuf's metadata.ErrRepository
// family means the metadata is bad (expired, rolled back, under
// threshold); both are permanent for the repository as it is and retrying
// will not help. *FetchError is a transport problem worth a retry.
// Selection errors (ErrWrongBoard, ErrDowngrade, …) say why a device may
// not install a target.
//
// One goroutine of one process at a time may work on a metadata
// directory (a Client and its Sessions); a Session is not safe for
// concurrent use.
package trust
