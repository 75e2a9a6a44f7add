// Package atomicfile writes small files so that a power cut leaves either
// the old or the new content, never a torn one: a temporary file beside
// the target, fsync, rename, fsync of the directory. The agent's journal,
// its trusted TUF metadata, the release tool's staged metadata and other
// state files use it.
//
// It is for files that fit in memory; images stream through firmware/slot.
// Its functions are safe for concurrent use on different names.
package atomicfile
