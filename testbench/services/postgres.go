package services

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a database of its own for one test on a PostgreSQL server.
type Postgres struct {
	// DSN connects to the database as a superuser, e.g.
	// "postgres://postgres@127.0.0.1:PORT/test_1?sslmode=disable"; pgx and
	// database/sql drivers take it as it is.
	DSN      string
	Addr     string // "127.0.0.1:PORT"
	Database string // the database's name
}

// StartPostgres gives the test an empty database and returns once a client
// can connect to it; the database is dropped when the test ends.
//
// Under Main, all tests of the binary share one server, started by the
// first test that asks (initdb takes seconds) and stopped when the tests
// end. Without Main, each call starts and stops a server of its own.
//
// initdb and postgres refuse to run as root; as root, the server runs as
// the user "postgres" (or "nobody" where that does not exist) in a
// directory it owns under the system's temporary directory.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), readyTimeout)
	defer cancel()
	var srv *postgresServer
	if mainRunning.Load() {
		var err error
		if srv, err = sharedPostgres(ctx); err != nil {
			t.Fatalf("start postgres: %v", err)
		}
	} else {
		var err error
		if srv, err = startPostgresServer(ctx); err != nil {
			t.Fatalf("start postgres: %v", err)
		}
		t.Cleanup(func() {
			if err := srv.stop(); err != nil {
				t.Errorf("stop postgres: %v", err)
			}
		})
	}
	name := fmt.Sprintf("test_%d", srv.databases.Add(1))
	if err := srv.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("start postgres: create database %s: %v\nlog:\n%s", name, err, srv.p.log())
	}
	t.Cleanup(func() {
		// t.Context is over by now.
		ctx, cancel := context.WithTimeout(context.Background(), stopGrace)
		defer cancel()
		if err := srv.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return &Postgres{DSN: srv.dsn(name), Addr: srv.addr, Database: name}
}

// shared is the server the tests under Main share.
var shared struct {
	mu  sync.Mutex
	srv *postgresServer
	err error // why it did not start; not retried
}

func sharedPostgres(ctx context.Context) (*postgresServer, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = startPostgresServer(ctx)
	}
	return shared.srv, shared.err
}

func stopSharedPostgres() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil {
		return nil
	}
	err := shared.srv.stop()
	shared.srv = nil
	return err
}

// postgresServer is one initdb'd cluster and its postmaster.
type postgresServer struct {
	base      string // owns data/ and run/; removed by stop
	addr      string
	p         *process
	databases atomic.Int64 // how many databases were handed out
}

func (s *postgresServer) dsn(database string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", s.addr, database)
}

// exec runs one statement as the superuser in the "postgres" database.
func (s *postgresServer) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.dsn("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// startPostgresServer initialises a cluster in a new directory and starts
// postgres on it.
func startPostgresServer(ctx context.Context) (_ *postgresServer, err error) {
	bin, err := lookPostgres()
	if err != nil {
		return nil, err
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: its parents are private to root, and the server's
	// user must reach its directory.
	base, err := os.MkdirTemp("", "patchbay-postgres-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(base)
		}
	}()
	data, run := filepath.Join(base, "data"), filepath.Join(base, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		return nil, err
	}
	if cred != nil {
		for _, dir := range []string{base, run} {
			if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
				return nil, fmt.Errorf("give %s to the postgres user: %w", dir, err)
			}
		}
	}
	env := append(os.Environ(), "LC_ALL=C", "TZ=UTC")

	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir, initdb.Env = base, env
	ip, err := startProcess("initdb", filepath.Join(base, "initdb.log"), initdb, cred)
	if err != nil {
		return nil, err
	}
	select {
	case <-ip.done:
	case <-ctx.Done():
		_ = ip.kill()
		return nil, fmt.Errorf("initdb %s: %w\nlog:\n%s", data, ctx.Err(), ip.log())
	}
	if ip.waitErr != nil {
		return nil, fmt.Errorf("initdb %s: %w\nlog:\n%s", data, ip.waitErr, ip.log())
	}

	for attempt := 1; ; attempt++ {
		port, err := freeTCPPort()
		if err != nil {
			return nil, err
		}
		s := &postgresServer{base: base, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
		cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
			"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-k", run,
			// A test database need not survive a crash.
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
		cmd.Dir, cmd.Env = base, env
		logPath := filepath.Join(base, "postgres.log")
		_ = os.Remove(logPath)
		s.p, err = startProcess("postgres", logPath, cmd, cred)
		if err != nil {
			return nil, err
		}
		err = s.p.waitReady(ctx, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			conn, err := pgx.Connect(ctx, s.dsn("postgres"))
			if err != nil {
				return err
			}
			return conn.Close(ctx)
		})
		if err == nil {
			return s, nil
		}
		log := s.p.log()
		_ = s.p.kill()
		if attempt == startAttempts || !strings.Contains(log, "already in use") {
			return nil, fmt.Errorf("postgres on %s: %w\nlog:\n%s", s.addr, err, log)
		}
	}
}

// postgresCredential is who initdb and postgres run as: nil (ourselves)
// unless we are root, which they refuse.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var errs []error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, fmt.Errorf("user %s: %w", name, err))
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("no unprivileged user to run postgres as (it refuses root): %w", errors.Join(errs...))
}

// stop shuts the server down (SIGINT: fast shutdown, which disconnects
// clients) and removes its directory.
func (s *postgresServer) stop() error {
	err := s.p.stop(syscall.SIGINT)
	return errors.Join(err, os.RemoveAll(s.base))
}
