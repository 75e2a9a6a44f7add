package release_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"patchbay.dev/firmware/trust/trusttest"
	"patchbay.dev/tools/release"
)

// BenchmarkPublish10000 publishes a repository of 10,000 targets after a
// change to one of them: targets.json is signed again, then a new
// snapshot and timestamp are signed and written.
func BenchmarkPublish10000(b *testing.B) {
	ctx := context.Background()
	repo := trusttest.New(b, release.InitOptions{})
	repo.AddSynthetic(10000)
	r, l := repo.Release, repo.Layout
	if _, err := r.Publish(ctx); err != nil {
		b.Fatal(err)
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		m := fw
		m.Version = fmt.Sprintf("24.10.%d", i)
		if _, err := r.Add(ctx, strings.NewReader(m.Version), release.Image{Name: "fw/changing.bin", Meta: m}); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Publish(ctx); err != nil {
			b.Fatal(err)
		}
	}
	st, err := os.Stat(filepath.Join(l.Public(), "metadata", "1.targets.json"))
	if err == nil {
		b.ReportMetric(float64(st.Size()), "targets.json-B")
	}
}
