package install

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
)

// An app image is a POSIX tar archive (ustar, pax or GNU headers),
// optionally gzip-compressed (recognised by its first two bytes, 1f 8b).
// Its entries are unpacked into the app's version directory:
//
//   - names are relative, slash-separated paths; a leading "./" is
//     allowed, "." entries are skipped; absolute names, ".." elements,
//     backslashes and NUL are refused;
//   - directories, regular files and symbolic links only: hard links,
//     devices and FIFOs are refused;
//   - a symbolic link's target must be relative and stay inside the
//     version directory when resolved from the link's directory;
//   - permissions are kept without setuid, setgid, sticky and write for
//     group and others; owners are not (files belong to the agent's user);
//   - no name may appear twice; at most maxAppEntries entries and
//     AppOptions.MaxBytes bytes of file content.
//
// Files are created through an os.Root, so no entry can reach outside the
// directory even through a link made by an earlier entry. Files and
// directories are synced before the directory is renamed into place.
const maxAppEntries = 10000

// extractApp unpacks the archive file into dest, which must not exist.
// Its errors are app-invalid (the archive breaks the rules), disk-full or
// write-failed.
func extractApp(ctx context.Context, archive, dest string, maxBytes int64) (err error) {
	f, err := os.Open(archive)
	if err != nil {
		return fail(ReasonWrite, err)
	}
	defer f.Close()
	if err := os.Mkdir(dest, 0o755); err != nil {
		return fail(ReasonWrite, err)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return fail(ReasonWrite, err)
	}
	defer root.Close()
	src := bufio.NewReader(f)
	var r io.Reader = src
	if magic, _ := src.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(src)
		if err != nil {
			return fail(ReasonAppInvalid, fmt.Errorf("app archive: %w", err))
		}
		defer gz.Close()
		r = gz
	}
	x := &extractor{root: root, budget: maxBytes, seen: map[string]bool{}, dirs: []string{"."}}
	if err := x.run(ctx, tar.NewReader(r)); err != nil {
		return err
	}
	return x.syncDirs()
}

type extractor struct {
	root    *os.Root
	budget  int64 // bytes of content still allowed
	entries int
	seen    map[string]bool
	dirs    []string
}

// invalid is an archive that breaks the format's rules.
func invalid(format string, args ...any) error {
	return fail(ReasonAppInvalid, fmt.Errorf("app archive: "+format, args...))
}

func (x *extractor) run(ctx context.Context, tr *tar.Reader) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if x.entries == 0 {
				return invalid("no entries")
			}
			return nil
		}
		if err != nil {
			return invalid("%v", err)
		}
		name, err := entryName(hdr.Name)
		if err != nil {
			return err
		}
		if name == "." {
			continue
		}
		if x.entries++; x.entries > maxAppEntries {
			return invalid("more than %d entries", maxAppEntries)
		}
		if x.seen[name] {
			return invalid("%s appears twice", name)
		}
		x.seen[name] = true
		if err := x.entry(hdr, name, tr); err != nil {
			return err
		}
	}
}

// entryName checks and cleans an entry's name.
func entryName(raw string) (string, error) {
	name := strings.TrimPrefix(raw, "./")
	name = strings.TrimSuffix(name, "/")
	switch {
	case name == "" || name == ".":
		return ".", nil
	case strings.ContainsAny(name, "\\\x00"):
		return "", invalid("entry %q: backslash or NUL in its name", raw)
	case strings.HasPrefix(name, "/"):
		return "", invalid("entry %q: absolute name", raw)
	case !fs.ValidPath(name):
		return "", invalid("entry %q: empty, '.' or '..' elements", raw)
	}
	return name, nil
}

func (x *extractor) entry(hdr *tar.Header, name string, r io.Reader) error {
	mode := fs.FileMode(hdr.Mode).Perm() &^ 0o022
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := x.root.MkdirAll(name, mode|0o700); err != nil {
			return x.writeErr(name, err)
		}
		x.dirs = append(x.dirs, name)
		return nil
	case tar.TypeReg:
		if hdr.Size < 0 || hdr.Size > x.budget {
			return fail(ReasonTooLarge, fmt.Errorf("app archive: %s: %d bytes passes the %d bytes left of the app's size limit", name, hdr.Size, x.budget))
		}
		x.budget -= hdr.Size
		if err := x.parent(name); err != nil {
			return err
		}
		return x.file(name, mode|0o600, hdr.Size, r)
	case tar.TypeSymlink:
		target := hdr.Linkname
		resolved := path.Join(path.Dir(name), target)
		if target == "" || strings.HasPrefix(target, "/") || strings.ContainsAny(target, "\\\x00") ||
			resolved == ".." || strings.HasPrefix(resolved, "../") {
			return invalid("symlink %s -> %q leaves the app's directory", name, target)
		}
		if err := x.parent(name); err != nil {
			return err
		}
		if err := x.root.Symlink(target, name); err != nil {
			return x.writeErr(name, err)
		}
		return nil
	}
	return invalid("%s: entry type %q is not a directory, regular file or symlink", name, hdr.Typeflag)
}

// parent creates the directories above name.
func (x *extractor) parent(name string) error {
	dir := path.Dir(name)
	if dir == "." {
		return nil
	}
	if err := x.root.MkdirAll(dir, 0o755); err != nil {
		return x.writeErr(name, err)
	}
	if !slices.Contains(x.dirs, dir) {
		x.dirs = append(x.dirs, dir)
	}
	return nil
}

func (x *extractor) file(name string, mode fs.FileMode, size int64, r io.Reader) error {
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return x.writeErr(name, err)
	}
	n, err := io.Copy(f, io.LimitReader(r, size))
	if err == nil && n != size {
		err = invalid("%s: archive ends after %d of %d bytes", name, n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return x.writeErr(name, err)
	}
	return nil
}

// writeErr classifies a failure to create name in the fresh directory:
// the storage's when the system says so (I/O error, read-only, full), else
// the archive's (an earlier entry in the way, a path through a link out of
// the root, a link loop).
func (x *extractor) writeErr(name string, err error) error {
	var f *failure
	if errors.As(err, &f) {
		return err
	}
	for _, storage := range []error{syscall.EIO, syscall.EROFS, syscall.ENOSPC, syscall.EDQUOT, syscall.ENOMEM} {
		if errors.Is(err, storage) {
			return fail(ReasonWrite, fmt.Errorf("unpack %s: %w", name, err))
		}
	}
	return invalid("%s: %w", name, err)
}

// syncDirs makes every directory's entries durable.
func (x *extractor) syncDirs() error {
	for _, d := range x.dirs {
		dir, err := x.root.Open(d)
		if err != nil {
			return fail(ReasonWrite, err)
		}
		err = dir.Sync()
		if cerr := dir.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fail(ReasonWrite, fmt.Errorf("sync %s: %w", d, err))
		}
	}
	return nil
}
