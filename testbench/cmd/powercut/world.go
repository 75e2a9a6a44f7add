package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/trust"
	"patchbay.dev/testbench/sim"
	"patchbay.dev/tools/release"
)

// world is what surrounds the device: a TUF repository made with
// tools/release, served over HTTP on 127.0.0.1 together with the device's
// web interface (/health) and a stand-in for the gateway (/gateway).
type world struct {
	dir    string
	repo   *release.Repo
	public string
	url    string
	srv    *http.Server
	served chan error // what the server's goroutine ended with

	mu      sync.Mutex
	dev     *sim.Device
	altered map[string]func([]byte) []byte // by target base name
}

func newWorld(ctx context.Context, dir string) (*world, error) {
	l := release.Layout{Repo: filepath.Join(dir, "repo")}
	repo, err := release.Init(ctx, l, release.InitOptions{}, release.Options{})
	if err != nil {
		return nil, fmt.Errorf("create repository: %w", err)
	}
	if _, err := repo.Publish(ctx); err != nil {
		return nil, fmt.Errorf("publish repository: %w", err)
	}
	w := &world{dir: dir, repo: repo, public: l.Public(), altered: map[string]func([]byte) []byte{}, served: make(chan error, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w.url = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(rw http.ResponseWriter, r *http.Request) { w.device().HealthHandler().ServeHTTP(rw, r) })
	mux.HandleFunc("/gateway", func(rw http.ResponseWriter, r *http.Request) { fmt.Fprintln(rw, "pong") })
	files := http.FileServer(http.Dir(w.public))
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		if alter := w.alteration(r.URL.Path); alter != nil {
			data, err := os.ReadFile(filepath.Join(w.public, filepath.FromSlash(path.Clean(r.URL.Path))))
			if err != nil {
				http.NotFound(rw, r)
				return
			}
			rw.Write(alter(data))
			return
		}
		files.ServeHTTP(rw, r)
	})
	w.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { w.served <- w.srv.Serve(ln) }()
	return w, nil
}

// close stops the server and waits for its goroutine.
func (w *world) close(ctx context.Context) error {
	err := w.srv.Shutdown(ctx)
	if serr := <-w.served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

func (w *world) device() *sim.Device {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dev
}

func (w *world) alteration(urlPath string) func([]byte) []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	base := path.Base(urlPath)
	for name, f := range w.altered {
		// Consistent snapshots serve "<hash>.<name>".
		if base == name || strings.HasSuffix(base, "."+name) {
			return f
		}
	}
	return nil
}

// alter makes the server change the bytes of target name as f says.
func (w *world) alter(name string, f func([]byte) []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.altered[path.Base(name)] = f
}

// publish signs an image into the repository and publishes it.
func (w *world) publish(ctx context.Context, name string, data []byte, m meta.Target) error {
	if _, err := w.repo.Add(ctx, bytes.NewReader(data), release.Image{Name: name, Meta: m}); err != nil {
		return err
	}
	if err := w.repo.Save(ctx); err != nil {
		return err
	}
	_, err := w.repo.Publish(ctx)
	return err
}

// newDevice provisions a fresh simulated device running version 1.0.0,
// with the agent's state directory holding the repository's root.
func (w *world) newDevice(ctx context.Context, name string, slotSize int64) (devDir, stateDir string, err error) {
	devDir, stateDir = filepath.Join(w.dir, name, "device"), filepath.Join(w.dir, name, "agent")
	img, err := sim.Build(sim.DefaultBoard, "1.0.0", bytes.Repeat([]byte("factory image "), 20000), false)
	if err != nil {
		return "", "", err
	}
	dev, err := sim.Create(ctx, sim.Config{Dir: devDir, SlotSize: slotSize, HealthURL: w.url + "/health"}, img)
	if err != nil {
		return "", "", err
	}
	root, err := os.ReadFile(filepath.Join(w.public, "metadata", "1.root.json"))
	if err != nil {
		return "", "", err
	}
	if err := trust.Init(filepath.Join(stateDir, "tuf"), root); err != nil {
		return "", "", err
	}
	w.mu.Lock()
	w.dev = dev
	w.mu.Unlock()
	return devDir, stateDir, nil
}
