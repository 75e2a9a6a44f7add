package trust

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// metadataPrefix is the fake base URL go-tuf is configured with; the
// fetcher strips it to get the file name it hands the Remote.
const metadataPrefix = "remote:/metadata/"

// tufFetcher implements go-tuf's fetcher.Fetcher over a Remote.
//
// go-tuf's Fetcher interface takes no context, so the Session stores the
// context of the call in progress here for that call's duration only.
type tufFetcher struct {
	ctx    context.Context
	remote Remote
	log    *slog.Logger
	last   string // name of the last file asked for, for error messages
}

// DownloadFile implements fetcher.Fetcher: it reads at most maxLength bytes
// and fails with a *LengthError if the file is longer.
func (f *tufFetcher) DownloadFile(url string, maxLength int64, _ time.Duration) ([]byte, error) {
	name, ok := strings.CutPrefix(url, metadataPrefix)
	if !ok {
		return nil, fmt.Errorf("metadata URL %q outside the repository", url)
	}
	return f.fetch(name, maxLength)
}

func (f *tufFetcher) fetch(name string, maxLength int64) ([]byte, error) {
	ctx := f.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	f.last = name
	if f.remote == nil {
		return nil, fmt.Errorf("fetch %s: %w", name, ErrOffline)
	}
	rc, err := f.remote.Metadata(ctx, name)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			// go-tuf ends its walk over root versions on an HTTP 404.
			return nil, errors.Join(&metadata.ErrDownloadHTTP{StatusCode: http.StatusNotFound, URL: name}, err)
		}
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxLength+1))
	if err != nil {
		return nil, &FetchError{URL: name, Err: err}
	}
	if int64(len(data)) > maxLength {
		return nil, &LengthError{Name: "metadata " + name, Want: maxLength, Got: int64(len(data))}
	}
	f.log.Debug("metadata fetched", "file", name, "bytes", len(data))
	return data, nil
}
