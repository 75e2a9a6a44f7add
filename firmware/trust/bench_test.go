package trust_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"patchbay.dev/firmware/meta"
	"patchbay.dev/firmware/trust"
	"patchbay.dev/firmware/trust/trusttest"
	"patchbay.dev/tools/release"
)

// benchTargetBytes is the size of the image the download benchmarks move:
// 16 MiB by default, PATCHBAY_BENCH_TARGET_MIB=256 for the real thing.
func benchTargetBytes(b *testing.B) int64 {
	mib := int64(16)
	if v := os.Getenv("PATCHBAY_BENCH_TARGET_MIB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("PATCHBAY_BENCH_TARGET_MIB=%q: want a positive number", v)
		}
		mib = n
	}
	return mib << 20
}

// pattern is an endless, cheap, not quite constant byte stream.
type pattern struct{ n uint64 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		p.n++
		b[i] = byte(p.n ^ p.n>>9)
	}
	return len(b), nil
}

// BenchmarkDownload streams one large target from a loopback HTTP server
// to a file: plain (no verification, what curl would do), verified by
// Download (length and SHA-256 on the way), and DownloadFile
// (verified into a partial file, fsync, rename). MB/s is throughput; B/op
// stays the same whatever the size: memory is constant.
func BenchmarkDownload(b *testing.B) {
	size := benchTargetBytes(b)
	repo := trusttest.New(b, release.InitOptions{})
	m := meta.Target{Kind: meta.KindFirmware, Boards: []string{"bench"}, Version: "1.0.0"}
	if _, err := repo.Release.Add(context.Background(), io.LimitReader(&pattern{}, size), release.Image{Name: "bench/image.bin", Meta: m}); err != nil {
		b.Fatal(err)
	}
	repo.Publish()
	dir := b.TempDir()
	mdDir := filepath.Join(dir, "metadata")
	if err := trust.Init(mdDir, repo.Root()); err != nil {
		b.Fatal(err)
	}
	c, err := trust.New(trust.Options{MetadataDir: mdDir, Remote: repo.Remote(), Now: func() time.Time { return trusttest.Epoch.Add(time.Hour) }})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	s, err := c.Refresh(ctx)
	if err != nil {
		b.Fatal(err)
	}
	tg, err := s.Target(ctx, "bench/image.bin")
	s.Close()
	if err != nil {
		b.Fatal(err)
	}
	url := repo.TargetsURL() + "/" + tg.RemotePath()
	hc := trust.NewHTTPClient()
	dst := filepath.Join(dir, "image.bin")

	plain := func(b *testing.B) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(dst)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(f, resp.Body)
		resp.Body.Close()
		f.Close()
		if err != nil || n != size {
			b.Fatalf("copied %d bytes: %v", n, err)
		}
	}
	verified := func(b *testing.B) {
		f, err := os.Create(dst)
		if err != nil {
			b.Fatal(err)
		}
		err = c.Download(ctx, tg, f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run(fmt.Sprintf("plain-http-to-file/%dMiB", size>>20), func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			plain(b)
		}
	})
	b.Run(fmt.Sprintf("stream-verify-to-file/%dMiB", size>>20), func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			verified(b)
		}
	})
	// Side by side: each iteration downloads plainly, then verified, so
	// both see the same machine; the ratio of their total times is the
	// issue's figure (verified throughput / plain throughput).
	b.Run(fmt.Sprintf("side-by-side/%dMiB", size>>20), func(b *testing.B) {
		var tPlain, tVerified time.Duration
		for b.Loop() {
			t0 := time.Now()
			plain(b)
			t1 := time.Now()
			verified(b)
			tPlain += t1.Sub(t0)
			tVerified += time.Since(t1)
		}
		mb := float64(size) * float64(b.N) / 1e6
		b.ReportMetric(mb/tPlain.Seconds(), "plain-MB/s")
		b.ReportMetric(mb/tVerified.Seconds(), "verified-MB/s")
		b.ReportMetric(tPlain.Seconds()/tVerified.Seconds(), "ratio")
	})
	b.Run(fmt.Sprintf("DownloadFile-fsync-rename/%dMiB", size>>20), func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			os.Remove(dst)
			if err := c.DownloadFile(ctx, tg, dst); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRefresh10000 is a device refreshing against a repository of
// 10,000 targets with Patchbay metadata: "first" starts from the shipped
// root (fetches and verifies everything, lists every target), "unchanged"
// is the periodic refresh that finds nothing new. The metadata sizes are
// reported as metrics.
func BenchmarkRefresh10000(b *testing.B) {
	repo := trusttest.New(b, release.InitOptions{})
	ctx := context.Background()
	repo.AddSynthetic(10000)
	repo.Publish()
	sizes := map[string]float64{}
	for _, f := range []string{"1.root.json", "timestamp.json", "1.snapshot.json", "1.targets.json"} {
		sizes[f] = float64(len(repo.Public(f)))
	}
	now := func() time.Time { return trusttest.Epoch.Add(time.Hour) }
	report := func(b *testing.B) {
		b.ReportMetric(sizes["1.targets.json"], "targets.json-B")
		b.ReportMetric(sizes["1.snapshot.json"], "snapshot.json-B")
		b.ReportMetric(sizes["timestamp.json"], "timestamp.json-B")
		b.ReportMetric(sizes["1.root.json"], "root.json-B")
	}

	b.Run("first", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			dir := b.TempDir()
			if err := trust.Init(dir, repo.Root()); err != nil {
				b.Fatal(err)
			}
			c, err := trust.New(trust.Options{MetadataDir: dir, Remote: repo.Remote(), Now: now})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			s, err := c.Refresh(ctx)
			if err != nil {
				b.Fatal(err)
			}
			all, err := s.Targets(ctx)
			s.Close()
			if err != nil || len(all) != 10000 {
				b.Fatalf("Targets = %d, %v", len(all), err)
			}
		}
		report(b)
	})
	b.Run("unchanged", func(b *testing.B) {
		dir := b.TempDir()
		if err := trust.Init(dir, repo.Root()); err != nil {
			b.Fatal(err)
		}
		c, err := trust.New(trust.Options{MetadataDir: dir, Remote: repo.Remote(), Now: now})
		if err != nil {
			b.Fatal(err)
		}
		s, err := c.Refresh(ctx)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
		b.ReportAllocs()
		for b.Loop() {
			s, err := c.Refresh(ctx)
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
		report(b)
	})
}

// BenchmarkVerifier is the CPU cost of verification alone: length plus
// SHA-256 (the hash patchbay-release lists) over each byte, 64 KiB at a
// time, no I/O.
func BenchmarkVerifier(b *testing.B) {
	chunk := make([]byte, 64<<10)
	(&pattern{}).Read(chunk)
	const size = 64 << 20
	tg := trust.Target{Name: "bench", Length: size, Hashes: map[string][]byte{"sha256": make([]byte, 32)}}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		v, err := trust.NewVerifier(tg)
		if err != nil {
			b.Fatal(err)
		}
		for range size / len(chunk) {
			if _, err := v.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if err := v.Verify(); err == nil {
			b.Fatal("zero hashes verified")
		}
	}
}
