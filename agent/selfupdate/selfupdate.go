package selfupdate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	minio "github.com/minio/selfupdate"

	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/trust"
)

// Downloader fetches a signed target into a file, verifying it on the way
// and leaving nothing at path unless it verified; *trust.Client is one.
type Downloader interface {
	DownloadFile(ctx context.Context, t trust.Target, path string) error
}

// ErrNotAgent is returned for a target that is not the agent.
var ErrNotAgent = errors.New("target is not of kind agent")

// Apply replaces the binary at exe with target t. On any error the binary
// at exe is the one that was there before.
func Apply(ctx context.Context, d Downloader, t trust.Target, exe string) error {
	if t.Meta == nil || t.Meta.Kind != meta.KindAgent {
		return fmt.Errorf("self-update %s: %w", t.Name, ErrNotAgent)
	}
	sum := t.Hashes["sha256"]
	if len(sum) == 0 {
		return fmt.Errorf("self-update %s: the target lists no sha256", t.Name)
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return fmt.Errorf("self-update: %w", err)
	}
	// Beside the binary, so the final rename stays on one file system.
	staged := filepath.Join(filepath.Dir(exe), "."+filepath.Base(exe)+".download")
	defer os.Remove(staged)
	if err := d.DownloadFile(ctx, t, staged); err != nil {
		return fmt.Errorf("self-update %s: %w", t.Name, err)
	}
	f, err := os.Open(staged)
	if err != nil {
		return fmt.Errorf("self-update %s: %w", t.Name, err)
	}
	defer f.Close()
	err = minio.Apply(f, minio.Options{TargetPath: exe, TargetMode: fi.Mode().Perm(), Checksum: sum})
	if err != nil {
		if rerr := minio.RollbackError(err); rerr != nil {
			return fmt.Errorf("self-update %s: %w; restoring the old binary failed too: %v", t.Name, err, rerr)
		}
		return fmt.Errorf("self-update %s: %w", t.Name, err)
	}
	return nil
}
