package install

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"patchbay.dev/firmware/bootenv"
	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/slot"
	"patchbay.dev/firmware/trust"
	"patchbay.dev/firmware/trust/trusttest"
	"patchbay.dev/testbench/sim"
	"patchbay.dev/tools/release"
)

// rig is a simulated A/B device with a TUF repository serving its images
// and the agent's state directory: what an Engine works on in these tests.
type rig struct {
	t       *testing.T
	dev     *sim.Device
	repo    *trusttest.Repo
	client  *trust.Client
	state   string
	rec     *recorder
	reboots int
}

const rigSlotSize = 1 << 20

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, state: filepath.Join(t.TempDir(), "state"), rec: &recorder{}}
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.dev.HealthHandler().ServeHTTP(w, req)
	}))
	t.Cleanup(web.Close)
	img, err := sim.Build(sim.DefaultBoard, "1.0.0", randomImage(200<<10, 100), false)
	if err != nil {
		t.Fatal(err)
	}
	r.dev, err = sim.Create(t.Context(), sim.Config{Dir: filepath.Join(t.TempDir(), "dev"), SlotSize: rigSlotSize, HealthURL: web.URL + "/health"}, img)
	if err != nil {
		t.Fatal(err)
	}
	r.repo = trusttest.New(t, release.InitOptions{})
	r.repo.Publish()
	md := filepath.Join(r.state, "tuf")
	if err := trust.Init(md, r.repo.Root()); err != nil {
		t.Fatal(err)
	}
	r.client, err = trust.New(trust.Options{MetadataDir: md, Remote: r.repo.Remote(),
		Now: func() time.Time { return trusttest.Epoch.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// publish signs a firmware image and returns its target as the device
// sees it after a refresh.
func (r *rig) publish(version string, unwell bool, board string, payload int) trust.Target {
	r.t.Helper()
	img, err := sim.Build(board, version, randomImage(payload, uint64(len(version))), unwell)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.publishBytes("fw/sim-"+version+".bin", img, meta.Target{Kind: meta.KindFirmware, Boards: []string{board}, Version: version})
}

func (r *rig) publishBytes(name string, data []byte, m meta.Target) trust.Target {
	r.t.Helper()
	r.repo.Add(name, data, m, "")
	r.repo.Publish()
	s, err := r.client.Refresh(r.t.Context())
	if err != nil {
		r.t.Fatal(err)
	}
	defer s.Close()
	tg, err := s.Target(r.t.Context(), name)
	if err != nil {
		r.t.Fatal(err)
	}
	return tg
}

func (r *rig) options() Options {
	p := r.dev.Profile()
	head := filepath.Join(r.state, "slot.head")
	return Options{
		Dir:   r.state,
		Board: p,
		Env:   r.dev.Env(),
		Slots: map[string]slot.Slot{
			"A": NewResumable(r.dev.Slot("A"), head),
			"B": NewResumable(r.dev.Slot("B"), head),
		},
		Booted:             CmdlineBooted(r.dev.CmdlinePath(), sim.SlotVariable),
		Rebooter:           RebootFunc(func(context.Context) error { r.reboots++; return nil }),
		Fetcher:            r.client,
		Lookup:             CachedLookup(r.client),
		Checks:             append(Checks(p.Health, nil), Check{Name: "gateway", Kind: CheckRoundtrip, Timeout: time.Second}),
		Roundtrip:          func(context.Context) error { return nil },
		Reporter:           r.rec,
		Logger:             slog.New(slog.NewTextHandler(r.t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		CheckpointBytes:    64 << 10,
		CheckpointInterval: -1,
		TrialTimeout:       300 * time.Millisecond,
		CheckInterval:      20 * time.Millisecond,
		RetryWait:          -1,
	}
}

func (r *rig) engine(mods ...func(*Options)) *Engine {
	r.t.Helper()
	o := r.options()
	for _, m := range mods {
		m(&o)
	}
	e, err := New(o)
	if err != nil {
		r.t.Fatal(err)
	}
	return e
}

// powerCycle boots the device, failing the test if it is bricked.
func (r *rig) powerCycle() sim.Boot {
	r.t.Helper()
	if bricked, why := r.dev.Bricked(r.t.Context()); bricked {
		r.t.Fatalf("device bricked: %s", why)
	}
	b, err := r.dev.Boot(r.t.Context())
	if err != nil {
		r.t.Fatalf("boot: %v", err)
	}
	return b
}

// finish power-cycles and resumes until the update ends.
func (r *rig) finish(out Outcome, err error, mods ...func(*Options)) (Outcome, error) {
	r.t.Helper()
	for i := 0; !out.State.Final(); i++ {
		if i == 20 {
			r.t.Fatalf("update still %s after 20 restarts: %v", out.State, err)
		}
		r.powerCycle()
		out, err = r.engine(mods...).Resume(r.t.Context())
	}
	return out, err
}

// install runs an update to its end.
func (r *rig) install(tg trust.Target, mods ...func(*Options)) (Outcome, error) {
	r.t.Helper()
	out, err := r.engine(mods...).Install(r.t.Context(), Request{Target: tg, FromVersion: r.version()})
	return r.finish(out, err, mods...)
}

// version is the version the device runs.
func (r *rig) version() string {
	r.t.Helper()
	_, im, err := r.dev.Running(r.t.Context())
	if err != nil {
		r.t.Fatal(err)
	}
	return im.Version
}

// expectRunning checks the running slot and version and that the
// environment selects that slot for good.
func (r *rig) expectRunning(slotName, version string) {
	r.t.Helper()
	s, im, err := r.dev.Running(r.t.Context())
	if err != nil {
		r.t.Fatal(err)
	}
	if s != slotName || im.Version != version {
		r.t.Errorf("device runs slot %s version %s, want %s %s", s, im.Version, slotName, version)
	}
	env := r.env()
	for name, want := range map[string]string{sim.SlotVariable: slotName, varUpgradeAvailable: "0"} {
		if got, _ := env.Get(name); got != want {
			r.t.Errorf("boot environment %s=%q, want %q", name, got, want)
		}
	}
}

func (r *rig) env() bootenv.Env {
	r.t.Helper()
	env, err := r.dev.Env().Read(r.t.Context())
	if err != nil {
		r.t.Fatal(err)
	}
	return env
}

// recorder is a Reporter that keeps what it is told.
type recorder struct {
	mu       sync.Mutex
	progress []Progress
	results  []Outcome
}

func (r *recorder) Progress(_ context.Context, p Progress) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.progress = append(r.progress, p)
	return nil
}

func (r *recorder) Result(_ context.Context, o Outcome) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, o)
	return nil
}

func (r *recorder) states() []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []State
	for _, p := range r.progress {
		if len(out) == 0 || out[len(out)-1] != p.State {
			out = append(out, p.State)
		}
	}
	return out
}

// failingSlot is a slot whose writes fail with err after n bytes.
type failingSlot struct {
	slot.Slot
	n   int64
	err error
}

func (f *failingSlot) Create(ctx context.Context, length int64) (slot.Writer, error) {
	w, err := f.Slot.Create(ctx, length)
	if err != nil {
		return nil, err
	}
	return &failingWriter{Writer: w, left: f.n, err: f.err}, nil
}

type failingWriter struct {
	slot.Writer
	left int64
	err  error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > w.left {
		return 0, fmt.Errorf("write slot: %w", w.err)
	}
	w.left -= int64(len(p))
	return w.Writer.Write(p)
}

var errPowerCut = errors.New("test: power cut")

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
