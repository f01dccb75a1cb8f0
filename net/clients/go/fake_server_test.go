package coffer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A scripted server on loopback for what a real cofferd will not do on
// demand: busy, dropped connections, bad frames, version 1, holding a
// reply back. The test drives it step by step; every wait is bounded.

type fakeServer struct {
	t  *testing.T
	ln net.Listener
}

type fakeConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

const fakeWait = 10 * time.Second

func newFakeServer(t *testing.T) *fakeServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeServer{t: t, ln: ln}
}

func (f *fakeServer) addr() string { return f.ln.Addr().String() }

func (f *fakeServer) accept() *fakeConn {
	f.t.Helper()
	f.ln.(*net.TCPListener).SetDeadline(time.Now().Add(fakeWait))
	nc, err := f.ln.Accept()
	if err != nil {
		f.t.Fatalf("accept: %v", err)
	}
	f.t.Cleanup(func() { nc.Close() })
	return &fakeConn{t: f.t, nc: nc, br: bufio.NewReader(nc)}
}

// read returns the next frame: header, decoded request, raw bytes.
func (c *fakeConn) read() (header, *request, []byte) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(fakeWait))
	h, body, err := readFrame(c.br)
	if err != nil {
		c.t.Fatalf("fake server read: %v", err)
	}
	r, err := decodeRequest(h, body)
	if err != nil {
		c.t.Fatalf("fake server decode: %v", err)
	}
	var hb [headerBytes]byte
	le.PutUint32(hb[0:], h.Magic)
	le.PutUint16(hb[4:], h.Version)
	le.PutUint16(hb[6:], h.Kind)
	le.PutUint64(hb[8:], h.RequestID)
	le.PutUint32(hb[16:], h.Count)
	le.PutUint32(hb[20:], h.BodyBytes)
	le.PutUint64(hb[24:], h.BodyXXH3)
	return h, r, append(hb[:], body...)
}

func (c *fakeConn) send(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("fake server write: %v", err)
	}
}

// handshake reads HELLO and answers HELLO_OK with `version`.
func (c *fakeConn) handshake(version uint16, inFlight uint32) *request {
	c.t.Helper()
	h, r, _ := c.read()
	if h.Kind != kindHello || h.Version != 1 {
		c.t.Fatalf("first frame %s version %d", kindName(h.Kind), h.Version)
	}
	c.send(encodeReply(version, h.RequestID, ServerInfo{Version: version, ShardCount: 1,
		MaxBodyBytes: 1 << 20, MaxOpsPerRequest: 8192, MaxRequestsInFlight: inFlight, MaxHistoryLimit: 1000}))
	return r
}

func okResults(ops []Op) []Result {
	rs := make([]Result, len(ops))
	for i, o := range ops {
		rs[i] = Result{Code: OK, BalanceAfter: int64(o.Amount), Seq: uint64(i + 1)}
	}
	return rs
}

// dialFake dials in the background while the fake server accepts and
// completes the handshake.
func dialFake(t *testing.T, f *fakeServer, opts Options, version uint16) (*Client, *fakeConn) {
	t.Helper()
	opts.Addr = f.addr()
	type dialed struct {
		c   *Client
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := Dial(context.Background(), opts)
		ch <- dialed{c, err}
	}()
	fc := f.accept()
	hello := fc.handshake(version, 128)
	if hello.minVer != 1 || hello.maxVer != opts.MaxVersion && !(opts.MaxVersion == 0 && hello.maxVer == 2) {
		t.Fatalf("hello asked %d..%d", hello.minVer, hello.maxVer)
	}
	d := <-ch
	if d.err != nil {
		t.Fatal(d.err)
	}
	t.Cleanup(func() { d.c.Close() })
	return d.c, fc
}

type applied struct {
	rs  []Result
	err error
}

func applyAsync(c *Client, ctx context.Context, ops ...Op) chan applied {
	ch := make(chan applied, 1)
	go func() {
		rs, err := c.Apply(ctx, ops...)
		ch <- applied{rs, err}
	}()
	return ch
}

func await(t *testing.T, ch chan applied) applied {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(fakeWait):
		t.Fatal("no answer from the client")
		return applied{}
	}
}

func TestBusyIsResentSameBytes(t *testing.T) {
	f := newFakeServer(t)
	c, fc := dialFake(t, f, Options{BusyBackoff: time.Millisecond}, 2)
	ch := applyAsync(c, testCtx(t), Debit(11, 1, 5))
	h, r, first := fc.read()
	fc.send(encodeReply(2, h.RequestID, &ServerError{Code: ErrCodeBusy, Message: "engine queue full"}))
	_, _, second := fc.read()
	if !bytes.Equal(first, second) {
		t.Fatalf("busy resend differs:\n%x\n%x", first, second)
	}
	fc.send(encodeReply(2, h.RequestID, okResults(r.ops)))
	if a := await(t, ch); a.err != nil || a.rs[0].BalanceAfter != 5 {
		t.Fatalf("%v %v", a.rs, a.err)
	}
}

func TestBusyRetriesExhausted(t *testing.T) {
	f := newFakeServer(t)
	c, fc := dialFake(t, f, Options{BusyRetries: 2, BusyBackoff: time.Millisecond}, 2)
	ch := applyAsync(c, testCtx(t), Debit(11, 1, 5))
	for i := 0; i < 3; i++ {
		h, _, _ := fc.read()
		fc.send(encodeReply(2, h.RequestID, &ServerError{Code: ErrCodeBusy, Message: "busy"}))
	}
	a := await(t, ch)
	var se *ServerError
	if !errors.Is(a.err, ErrBusy) || !errors.As(a.err, &se) || se.Code != ErrCodeBusy {
		t.Fatalf("after 2 busy retries: %v", a.err)
	}
}

// A lost connection: the client reconnects and resends the same frame.
func TestResendAfterReconnectSameBytes(t *testing.T) {
	f := newFakeServer(t)
	c, fc := dialFake(t, f, Options{ReconnectBackoff: time.Millisecond}, 2)
	ch := applyAsync(c, testCtx(t), Transfer(21, 1, 2, 7).WithReason(3), Credit(22, 3, 1))
	_, r, first := fc.read()
	fc.nc.Close()
	fc2 := f.accept()
	fc2.handshake(2, 128)
	h, _, again := fc2.read()
	if !bytes.Equal(first, again) {
		t.Fatalf("resend differs:\n%x\n%x", first, again)
	}
	fc2.send(encodeReply(2, h.RequestID, okResults(r.ops)))
	if a := await(t, ch); a.err != nil || len(a.rs) != 2 || a.rs[0].BalanceAfter != 7 {
		t.Fatalf("%v %v", a.rs, a.err)
	}
	if c.Reconnects() != 1 {
		t.Fatalf("%d reconnects", c.Reconnects())
	}
}

func TestConnectionClosedError(t *testing.T) {
	f := newFakeServer(t)
	c, fc := dialFake(t, f, Options{ReconnectAttempts: -1}, 2)
	ch := applyAsync(c, testCtx(t), Debit(11, 1, 5))
	fc.read()
	fc.nc.Close()
	a := await(t, ch)
	if !errors.Is(a.err, ErrConnectionClosed) || !errors.Is(a.err, ErrUnavailable) {
		t.Fatalf("server closed: %v", a.err)
	}
}

func TestReconnectAttemptsExhausted(t *testing.T) {
	f := newFakeServer(t)
	c, fc := dialFake(t, f, Options{ReconnectAttempts: 2, ReconnectBackoff: time.Millisecond}, 2)
	ch := applyAsync(c, testCtx(t), Debit(11, 1, 5))
	fc.read()
	f.ln.Close() // nothing listens any more: both attempts fail
	fc.nc.Close()
	a := await(t, ch)
	var ue *UnavailableError
	if !errors.As(a.err, &ue) || ue.Attempts != 2 {
		t.Fatalf("after 2 attempts: %v", a.err)
	}
}

func TestProtocolErrorFromServer(t *testing.T) {
	f := newFakeServer(t)
	c, fc := dialFake(t, f, Options{ReconnectAttempts: -1}, 2)
	ch := applyAsync(c, testCtx(t), Debit(11, 1, 5))
	h, r, _ := fc.read()
	reply := encodeReply(2, h.RequestID, okResults(r.ops))
	reply[headerBytes] ^= 1 // the body no longer matches its checksum
	fc.send(reply)
	if a := await(t, ch); !errors.Is(a.err, ErrProtocol) {
		t.Fatalf("bad checksum: %v", a.err)
	}
}

func TestHandshakeRefusedVersion(t *testing.T) {
	f := newFakeServer(t)
	ch := make(chan error, 1)
	go func() {
		_, err := Dial(context.Background(), Options{Addr: f.addr()})
		ch <- err
	}()
	fc := f.accept()
	h, _, _ := fc.read()
	fc.send(encodeReply(2, h.RequestID, &ServerError{Code: ErrCodeUnsupportedVersion, Closing: true, Message: "no common version"}))
	err := <-ch
	if !errors.Is(err, ErrHandshakeRefused) || !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("refused: %v", err)
	}
}

// A server that picks version 1: ops go without the issue time.
func TestServerChoosesVersion1(t *testing.T) {
	f := newFakeServer(t)
	c, fc := dialFake(t, f, Options{}, 1)
	if c.ServerInfo().Version != 1 {
		t.Fatal("version")
	}
	ch := applyAsync(c, testCtx(t), Credit(31, 1, 9))
	h, r, raw := fc.read()
	if h.Version != 1 || h.BodyBytes != opBytes || len(raw) != headerBytes+opBytes || r.ops[0].ID != 31 {
		t.Fatalf("v1 ops frame: %+v", h)
	}
	fc.send(encodeReply(1, h.RequestID, okResults(r.ops)))
	if a := await(t, ch); a.err != nil || a.rs[0].BalanceAfter != 9 {
		t.Fatalf("%v %v", a.rs, a.err)
	}
}

func TestCallTimeout(t *testing.T) {
	f := newFakeServer(t)
	c, fc := dialFake(t, f, Options{}, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ch := applyAsync(c, ctx, Debit(11, 1, 5))
	fc.read() // and never answer
	if a := await(t, ch); !errors.Is(a.err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", a.err)
	}
}

// Calls made while the only slot is busy are merged into the next frame;
// each caller gets its own results; the frame carries the oldest issue time.
func TestCoalescing(t *testing.T) {
	f := newFakeServer(t)
	var clock atomic.Uint64
	queued := make(chan struct{}, 64)
	opts := Options{MaxFramesInFlight: 1, Clock: func() uint64 { return 1000 + clock.Add(1) }}
	c, fc := dialFake(t, f, opts, 2)
	c.mu.Lock()
	c.onQueued = func() { queued <- struct{}{} }
	c.mu.Unlock()
	ctx := testCtx(t)
	firstCh := applyAsync(c, ctx, Credit(100, 1, 1000))
	h1, r1, _ := fc.read()
	<-queued
	const n = 10
	chans := make([]chan applied, n)
	for i := range chans {
		chans[i] = applyAsync(c, ctx, Credit(uint64(200+i), 1, uint64(i+1)))
	}
	for i := 0; i < n; i++ {
		select {
		case <-queued:
		case <-time.After(fakeWait):
			t.Fatal("calls not queued")
		}
	}
	fc.send(encodeReply(2, h1.RequestID, okResults(r1.ops)))
	h2, r2, _ := fc.read()
	if h2.Count != n || len(r2.ops) != n {
		t.Fatalf("second frame has %d ops, want %d merged", h2.Count, n)
	}
	if r2.issuedNs != 1002 { // the oldest of the merged calls (the first call had 1001)
		t.Fatalf("merged frame issued_ns %d, want 1002", r2.issuedNs)
	}
	fc.send(encodeReply(2, h2.RequestID, okResults(r2.ops)))
	if a := await(t, firstCh); a.err != nil || a.rs[0].BalanceAfter != 1000 {
		t.Fatalf("first: %v %v", a.rs, a.err)
	}
	for i, ch := range chans {
		a := await(t, ch)
		if a.err != nil || len(a.rs) != 1 || a.rs[0].BalanceAfter != int64(i+1) {
			t.Fatalf("caller %d got %v %v", i, a.rs, a.err)
		}
	}
	if c.FramesMade() != 2 || c.CallsFramed() != n+1 {
		t.Fatalf("%d frames for %d calls", c.FramesMade(), c.CallsFramed())
	}
}

// Open chains and calls with their own issue time are never merged.
func TestNoMergeOfOpenChainOrRetry(t *testing.T) {
	f := newFakeServer(t)
	queued := make(chan struct{}, 64)
	c, fc := dialFake(t, f, Options{MaxFramesInFlight: 1}, 2)
	c.mu.Lock()
	c.onQueued = func() { queued <- struct{}{} }
	c.mu.Unlock()
	ctx := testCtx(t)
	var wg sync.WaitGroup
	first := applyAsync(c, ctx, Credit(1, 1, 1))
	h, r, _ := fc.read()
	<-queued
	wg.Add(3)
	go func() { defer wg.Done(); c.ApplyIssued(ctx, 5, Credit(2, 1, 1)) }()
	<-queued
	go func() { defer wg.Done(); c.Apply(ctx, Credit(3, 1, 1).Linked()) }()
	<-queued
	go func() { defer wg.Done(); c.Apply(ctx, Credit(4, 1, 1)) }()
	<-queued
	fc.send(encodeReply(2, h.RequestID, okResults(r.ops)))
	await(t, first)
	for i := 0; i < 3; i++ {
		h, r, _ := fc.read()
		if len(r.ops) != 1 {
			t.Fatalf("frame %d merged %d ops", i, len(r.ops))
		}
		if r.ops[0].ID == 2 && r.issuedNs != 5 {
			t.Fatalf("retry's issue time %d", r.issuedNs)
		}
		fc.send(encodeReply(2, h.RequestID, okResults(r.ops)))
	}
	wg.Wait()
}
