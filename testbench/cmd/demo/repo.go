package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"patchbay.dev/testbench/sim"
)

// repo is the TUF repository the demo signs with the real patchbay-release.
type repo struct {
	dir    string // REPO of patchbay-release
	public string // what the web server serves
	root   string // the root.json devices ship with
}

// makeRepo creates the repository in dir/repo and signs one update per
// board into it: init, add, publish.
func (s *story) makeRepo(ctx context.Context) (*repo, error) {
	r := &repo{dir: filepath.Join(s.o.dir, "repo")}
	r.public = filepath.Join(r.dir, "public")
	r.root = filepath.Join(r.public, "metadata", "root.json")
	images := filepath.Join(s.o.dir, "images")
	if err := os.MkdirAll(images, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(s.o.dir, "release.log")
	release := func(args ...string) error {
		argv := append([]string{s.bin("patchbay-release"), "--repo", r.dir}, args...)
		return s.procs.run(ctx, "patchbay-release", logPath, argv)
	}
	if err := release("init"); err != nil {
		return nil, fmt.Errorf("create the repository: %w", err)
	}
	s.say("repo", "created %s with keys for root, targets, snapshot and timestamp (patchbay-release init)", s.rel(r.dir))
	for _, b := range boardsOfDemo {
		im, err := sim.Build(b.id, b.to, payload(b.id, b.to), false)
		if err != nil {
			return nil, err
		}
		file := filepath.Join(images, b.id+"-"+b.to+".img")
		if err := os.WriteFile(file, im, 0o644); err != nil {
			return nil, err
		}
		args := []string{"add", "--name", b.targetName(), "--kind", "firmware", "--board", b.id, "--version", b.to,
			"--cvss", b.cvss, "--requires-reboot", "--min-version", b.minVersion, "--released", b.released, "--eol", b.eol}
		for _, c := range b.cves {
			args = append(args, "--cve", c)
		}
		if b.kev {
			args = append(args, "--kev")
		}
		if err := release(append(args, file)...); err != nil {
			return nil, fmt.Errorf("sign the %s image: %w", b.id, err)
		}
		s.say("repo", "signed %s %s (%s) as %s", b.id, b.to, b.describe(), b.targetName())
	}
	if err := release("publish"); err != nil {
		return nil, fmt.Errorf("publish the repository: %w", err)
	}
	return r, nil
}

// web is the demo's own HTTP server on 127.0.0.1: the repository's public
// directory, and the web interfaces of the simulated devices, which the
// failing device's health check probes.
type web struct {
	url    string
	srv    *http.Server
	served chan error
}

// serve starts the web server for r; failing is the device whose web
// interface does not come up. Every probe of it is shown.
func (s *story) serve(r *repo, failing string) (*web, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("web server: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(r.public)))
	mux.HandleFunc("GET /devices/{id}/web-ui", func(w http.ResponseWriter, req *http.Request) {
		if id := req.PathValue("id"); id == failing {
			http.Error(w, "web interface of "+id+" did not come up", http.StatusServiceUnavailable)
			s.say(id, "health check web-ui: GET %s answered 503 Service Unavailable", req.URL.Path)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	w := &web{url: "http://" + ln.Addr().String(), served: make(chan error, 1),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		err := w.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		w.served <- err
	}()
	return w, nil
}

// webUI is the URL of a device's web interface.
func (w *web) webUI(device string) string { return w.url + "/devices/" + device + "/web-ui" }

// close stops the server and waits for its goroutine.
func (w *web) close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return errors.Join(w.srv.Shutdown(ctx), <-w.served)
}

// metadataURL and targetsURL are where devices find the repository.
func (w *web) metadataURL() string { return strings.TrimSuffix(w.url, "/") + "/metadata" }
func (w *web) targetsURL() string  { return strings.TrimSuffix(w.url, "/") + "/targets" }
