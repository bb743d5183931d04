package main

// The baselines' stores: a real PostgreSQL 15 and a real Redis, from
// Debian's packages, each started by the child that measures it in a
// temporary directory, listening on a unix socket only (no TCP port), and
// stopped when it is done.

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
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// pgBin is where Debian's postgresql-15 puts its programs.
const pgBin = "/usr/lib/postgresql/15/bin"

// startStore starts the database spec names and connects to it.
func startStore(spec string) (store, error) {
	switch spec {
	case "postgres":
		return startPostgres()
	case "redis":
		return startRedis()
	}
	return nil, fmt.Errorf("unknown store %q", spec)
}

// server is a database server process and its directory.
type server struct {
	cmd *exec.Cmd
	dir string
}

func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT) // PostgreSQL: fast shutdown; Redis: save and exit
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
	}
	_ = os.RemoveAll(s.dir)
}

// asUser returns a command that runs name as the postgres user when
// this process is root (PostgreSQL refuses to run as root).
func asUser(name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

type pgStore struct {
	srv  *server
	pool *pgxpool.Pool
}

func startPostgres() (store, error) {
	if _, err := os.Stat(filepath.Join(pgBin, "postgres")); err != nil {
		return nil, fmt.Errorf("PostgreSQL 15 not installed (apt-get install postgresql-15): %w", err)
	}
	dir, err := os.MkdirTemp("", "durabench-pg-")
	if err != nil {
		return nil, err
	}
	srv := &server{dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			srv.stop()
			return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			srv.stop()
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := asUser(filepath.Join(pgBin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		srv.stop()
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}
	// No TCP (listen_addresses empty): the socket in dir only. Commits
	// are synchronous and fsynced (the defaults, said explicitly).
	srv.cmd = asUser(filepath.Join(pgBin, "postgres"), "-D", data, "-k", dir, "-c", "listen_addresses=",
		"-c", "synchronous_commit=on", "-c", "fsync=on", "-c", "max_connections=100")
	srv.cmd.Stderr = nil
	if err := srv.cmd.Start(); err != nil {
		srv.stop()
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := pgxpool.ParseConfig(fmt.Sprintf("host=%s user=postgres dbname=postgres", dir))
	if err != nil {
		srv.stop()
		return nil, err
	}
	cfg.MaxConns = 32
	var pool *pgxpool.Pool
	for {
		if pool, err = pgxpool.NewWithConfig(ctx, cfg); err == nil {
			if err = pool.Ping(ctx); err == nil {
				break
			}
			pool.Close()
		}
		select {
		case <-ctx.Done():
			srv.stop()
			return nil, fmt.Errorf("postgres never answered: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if _, err := pool.Exec(ctx, `CREATE TABLE counters (name text PRIMARY KEY, state bytea NOT NULL)`); err != nil {
		pool.Close()
		srv.stop()
		return nil, fmt.Errorf("create table: %w", err)
	}
	return &pgStore{srv: srv, pool: pool}, nil
}

func (s *pgStore) put(ctx context.Context, name string, state []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO counters (name, state) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state`, name, state)
	return err
}

func (s *pgStore) close() {
	s.pool.Close()
	s.srv.stop()
}

type redisStore struct {
	srv    *server
	client *redis.Client
}

func startRedis() (store, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not installed (apt-get install redis-server): %w", err)
	}
	dir, err := os.MkdirTemp("", "durabench-redis-")
	if err != nil {
		return nil, err
	}
	srv := &server{dir: dir}
	sock := filepath.Join(dir, "redis.sock")
	srv.cmd = exec.Command(bin, "--port", "0", "--unixsocket", sock, "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "")
	if err := srv.cmd.Start(); err != nil {
		srv.stop()
		return nil, fmt.Errorf("start redis: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			srv.stop()
			return nil, fmt.Errorf("redis never listened: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	client := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, PoolSize: 32})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		srv.stop()
		return nil, fmt.Errorf("redis ping: %w", err)
	}
	return &redisStore{srv: srv, client: client}, nil
}

func (s *redisStore) put(ctx context.Context, name string, state []byte) error {
	if err := s.client.Set(ctx, name, state, 0).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	return nil
}

func (s *redisStore) close() {
	_ = s.client.Close()
	s.srv.stop()
}
