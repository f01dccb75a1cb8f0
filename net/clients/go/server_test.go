package coffer

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A real cofferd started by a test: $COFFERD --listen=127.0.0.1:PORT
// --data_dir=DIR --shards=2.
type cofferd struct {
	t      *testing.T
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	log    strings.Builder // stderr
}

var listeningRE = regexp.MustCompile(`cofferd listening on 127\.0\.0\.1:(\d+):`)

const serverStartTimeout = 20 * time.Second

// startCofferd starts a server on a fresh data dir (dir "": t.TempDir())
// and port (0: any), and stops it when the test ends.
func startCofferd(t *testing.T, dir string, port int, extra ...string) *cofferd {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := launchCofferd(t, dir, port, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// launchCofferd starts $COFFERD and waits (bounded) for its listening line.
// Any goroutine may call it.
func launchCofferd(t *testing.T, dir string, port int, extra ...string) (*cofferd, error) {
	bin := os.Getenv("COFFERD")
	if bin == "" {
		return nil, fmt.Errorf("COFFERD is not set: set it to the cofferd binary to test against (e.g. COFFERD=/work/bin/cofferd)")
	}
	args := append([]string{fmt.Sprintf("--listen=127.0.0.1:%d", port), "--data_dir=" + dir, "--shards=2"}, extra...)
	s := &cofferd{t: t, dir: dir, exited: make(chan struct{})}
	s.cmd = exec.Command(bin, args...)
	// The listening line is on stdout (the brief said stderr): watch both.
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %v", bin, err)
	}
	ready := make(chan int, 2)
	var readers sync.WaitGroup
	for _, pipe := range []io.Reader{stdout, stderr} {
		readers.Add(1)
		go func(r io.Reader) {
			defer readers.Done()
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				line := sc.Text()
				s.mu.Lock()
				s.log.WriteString(line + "\n")
				s.mu.Unlock()
				if m := listeningRE.FindStringSubmatch(line); m != nil {
					var p int
					fmt.Sscan(m[1], &p)
					ready <- p
				}
			}
		}(pipe)
	}
	go func() {
		readers.Wait()
		s.cmd.Wait()
		close(s.exited)
	}()
	select {
	case s.port = <-ready:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("cofferd exited before listening (%v):\n%s", s.cmd.ProcessState, s.stderr())
	case <-time.After(serverStartTimeout):
		s.cmd.Process.Kill()
		<-s.exited
		return nil, fmt.Errorf("cofferd not listening after %v:\n%s", serverStartTimeout, s.stderr())
	}
}

func (s *cofferd) stderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func (s *cofferd) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

func (s *cofferd) wait(what string) {
	select {
	case <-s.exited:
	case <-time.After(serverStartTimeout):
		s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("cofferd did not exit within %v of %s:\n%s", serverStartTimeout, what, s.stderr())
	}
}

// stop: SIGTERM and wait (a no-op once it has exited).
func (s *cofferd) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.wait("SIGTERM")
}

// kill: SIGKILL and wait.
func (s *cofferd) kill() {
	s.cmd.Process.Kill()
	s.wait("SIGKILL")
}

func dial(t *testing.T, s *cofferd, opts Options) *Client {
	t.Helper()
	opts.Addr = s.addr()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, opts)
	if err != nil {
		t.Fatalf("Dial %s: %v\nserver stderr:\n%s", opts.Addr, err, s.stderr())
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
