package trust

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Remote is where a repository's files come from.
type Remote interface {
	// Metadata opens a metadata file by its name in the repository
	// ("timestamp.json", "4.snapshot.json", "2.root.json").
	Metadata(ctx context.Context, name string) (io.ReadCloser, error)
	// Target opens a target file by its path below the targets location
	// (Target.RemotePath), positioned at byte offset.
	Target(ctx context.Context, path string, offset int64) (io.ReadCloser, error)
}

// HTTPDoer sends HTTP requests; *http.Client is one.
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// NewHTTPClient returns a client for TUF repositories with its own
// transport: bounded connection, TLS handshake and response-header waits,
// proxies from the environment. It has no overall timeout because images
// take long; deadlines come from the context of each call.
func NewHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   15 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConns:          4,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("more than 5 redirects")
			}
			return nil
		},
	}
}

// HTTPRemote is a repository on a web server: metadata below MetadataURL,
// targets below TargetsURL.
type HTTPRemote struct {
	Client      HTTPDoer // required; see NewHTTPClient
	MetadataURL string   // e.g. https://updates.example.com/metadata
	TargetsURL  string   // e.g. https://updates.example.com/targets
	UserAgent   string
}

// Metadata implements Remote.
func (r *HTTPRemote) Metadata(ctx context.Context, name string) (io.ReadCloser, error) {
	if strings.ContainsAny(name, "/\\") {
		return nil, fmt.Errorf("metadata name %q: must not contain a slash", name)
	}
	return r.get(ctx, joinURL(r.MetadataURL, name), 0)
}

// Target implements Remote. A non-zero offset is asked for with a Range
// request; a server that ignores it and sends the whole file is read past
// the first offset bytes.
func (r *HTTPRemote) Target(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = urlPathEscape(s)
	}
	return r.get(ctx, joinURL(r.TargetsURL, strings.Join(segs, "/")), offset)
}

func (r *HTTPRemote) get(ctx context.Context, url string, offset int64) (io.ReadCloser, error) {
	if r.Client == nil {
		return nil, &FetchError{URL: url, Err: errors.New("HTTPRemote has no Client")}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, &FetchError{URL: url, Err: err}
	}
	if r.UserAgent != "" {
		req.Header.Set("User-Agent", r.UserAgent)
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		return nil, &FetchError{URL: url, Err: err}
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		if offset > 0 { // the server ignored Range: skip what we have
			if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
				resp.Body.Close()
				return nil, &FetchError{URL: url, Status: resp.StatusCode, Err: fmt.Errorf("skip %d bytes already present: %w", offset, err)}
			}
		}
		return resp.Body, nil
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		if start, ok := contentRangeStart(resp.Header.Get("Content-Range")); !ok || start != offset {
			resp.Body.Close()
			return nil, &FetchError{URL: url, Status: resp.StatusCode, Err: fmt.Errorf("asked for bytes from %d, got Content-Range %q", offset, resp.Header.Get("Content-Range"))}
		}
		return resp.Body, nil
	}
	resp.Body.Close()
	fe := &FetchError{URL: url, Status: resp.StatusCode, Err: errors.New(http.StatusText(resp.StatusCode))}
	// Static hosts answer 403 for a missing object when listing is not
	// allowed (S3, GCS); like python-tuf, treat it as absent.
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden {
		fe.Err = ErrNotFound
	}
	return nil, fe
}

// contentRangeStart reads the first byte position of "bytes 100-199/200".
func contentRangeStart(h string) (int64, bool) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(first, 10, 64)
	return n, err == nil
}

func joinURL(base, name string) string {
	return strings.TrimSuffix(base, "/") + "/" + name
}

// urlPathEscape escapes one path segment, keeping the characters target
// names use ("a-b_c.1+x") readable.
func urlPathEscape(s string) string {
	if s == "." || s == ".." { // never let a server resolve them
		return strings.Repeat("%2E", len(s))
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+@=,", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// DirRemote is a published repository copied to a directory (a USB stick,
// a technician's laptop): the same files a web server would serve.
// Paths cannot leave the directories.
type DirRemote struct {
	MetadataDir string // e.g. /media/usb/repo/metadata
	TargetsDir  string // e.g. /media/usb/repo/targets
}

// Metadata implements Remote.
func (r *DirRemote) Metadata(ctx context.Context, name string) (io.ReadCloser, error) {
	return openInside(ctx, r.MetadataDir, name, 0)
}

// Target implements Remote.
func (r *DirRemote) Target(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	return openInside(ctx, r.TargetsDir, filepath.FromSlash(path), offset)
}

func openInside(ctx context.Context, dir, name string, offset int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	where := filepath.Join(dir, name)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, &FetchError{URL: where, Err: err}
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = ErrNotFound
		}
		return nil, &FetchError{URL: where, Err: err}
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, &FetchError{URL: where, Err: err}
		}
	}
	return f, nil
}
