package coffer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options configure a Client. The zero value of every field means its
// default.
type Options struct {
	// Addr is the server's host:port (default "127.0.0.1:7300").
	Addr string
	// Token is the server's auth token (HELLO), empty if it has none.
	Token string
	// MaxVersion is the highest protocol version to ask for (1 or 2;
	// default 2). The client accepts any version 1..MaxVersion the server
	// picks.
	MaxVersion uint16
	// ConnectTimeout bounds one connect plus HELLO (default 5 s).
	ConnectTimeout time.Duration
	// CallTimeout applies to a call whose context has no deadline
	// (default 30 s; negative: none).
	CallTimeout time.Duration
	// ReconnectAttempts after a lost connection before every unanswered
	// call fails with an *UnavailableError (default 10; negative: none).
	// ReconnectBackoff is the wait before the first attempt (default
	// 20 ms), doubling up to 1 s.
	ReconnectAttempts int
	ReconnectBackoff  time.Duration
	// BusyRetries: resends of a request answered ERROR busy (default 20;
	// negative: none), after BusyBackoff (default 5 ms) doubling up to 1 s.
	BusyRetries int
	BusyBackoff time.Duration
	// MaxResends bounds how many reconnects one unanswered request is
	// resent across (default 16).
	MaxResends int
	// MaxFramesInFlight: request frames in flight before calls queue; at
	// most the server's max_requests_in_flight (0: the server's).
	MaxFramesInFlight int
	// MaxQueuedOps: ops (a call without ops counts one) waiting for a slot;
	// beyond it a call fails at once with ErrQueueFull (default 65,536).
	MaxQueuedOps int
	// NoCoalesce sends every call in a frame of its own.
	NoCoalesce bool
	// Clock stamps ops requests with their issue time (ns since the Unix
	// epoch); nil: the system clock.
	Clock func() uint64
}

func (o *Options) setDefaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:7300"
	}
	if o.MaxVersion == 0 {
		o.MaxVersion = VersionMax
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.ConnectTimeout, 5*time.Second)
	def(&o.CallTimeout, 30*time.Second)
	def(&o.ReconnectBackoff, 20*time.Millisecond)
	def(&o.BusyBackoff, 5*time.Millisecond)
	defInt := func(d *int, v int) {
		if *d == 0 {
			*d = v
		} else if *d < 0 {
			*d = 0
		}
	}
	defInt(&o.ReconnectAttempts, 10)
	defInt(&o.BusyRetries, 20)
	defInt(&o.MaxResends, 16)
	defInt(&o.MaxQueuedOps, 65536)
	if o.Clock == nil {
		o.Clock = func() uint64 { return uint64(time.Now().UnixNano()) }
	}
}

const backoffMax = time.Second

// Client is a connection to cofferd, safe for use by many goroutines.
// Concurrent Apply calls are coalesced into shared OPS frames; every
// request's frame is kept until answered and resent byte for byte after a
// reconnect, so ops apply exactly once.
type Client struct {
	opts   Options
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wake   chan struct{}
	done   chan struct{} // the sender goroutine has ended

	mu         sync.Mutex
	closed     bool
	queue      []*call // waiting for a slot, oldest first
	queuedOps  int
	pending    map[uint64]*inflight // by request id (resend order)
	resend     []*inflight          // busy retries due on the current connection
	nextID     uint64
	cur        *conn // the ready connection, nil while there is none
	gen        uint64
	info       ServerInfo
	lastCause  error        // why the last connection was lost
	lastServer *ServerError // the current connection's last ERROR about itself

	reconnects, framesMade, callsFramed atomic.Uint64

	onQueued func() // tests: called after a call joined the queue
}

type conn struct {
	nc      net.Conn
	version uint16
	gen     uint64
}

type outcome struct {
	v   interface{}
	err error
}

// call is one caller's request, waiting for its answer on done.
type call struct {
	req       request
	weight    int
	alone     bool // never merged (an ops call with its own issue time)
	done      chan outcome
	abandoned atomic.Bool // the caller gave up before it was framed
}

// inflight is one request frame: sent, to be resent, or waiting out busy.
type inflight struct {
	id           uint64
	req          request
	calls        []*call
	frame        []byte // resent verbatim
	frameVersion uint16
	busyRetries  int
	resends      int
	gen          uint64 // connection of the last send
}

// Dial connects to the server and completes HELLO (one attempt). Errors:
// a dial error, a *HandshakeError (ErrAuthFailed, ErrUnsupportedVersion),
// a *ProtocolError, ErrConnectionClosed.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	opts.setDefaults()
	if opts.MaxVersion < VersionMin || opts.MaxVersion > VersionMax {
		return nil, fmt.Errorf("coffer: MaxVersion %d: this client speaks %d..%d", opts.MaxVersion, VersionMin, VersionMax)
	}
	if len(opts.Token) > TokenBytesMax {
		return nil, fmt.Errorf("coffer: token of %d bytes, at most %d", len(opts.Token), TokenBytesMax)
	}
	c := &Client{
		opts:    opts,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		pending: make(map[uint64]*inflight),
		nextID:  1,
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	cn, br, info, err := c.dialOnce(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.install(cn, br, info, false)
	go c.run()
	return c, nil
}

// Close ends the connection; calls not yet answered fail with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cn := c.cur
	c.cur = nil
	c.mu.Unlock()
	c.cancel()
	if cn != nil {
		cn.nc.Close()
	}
	<-c.done
	c.mu.Lock()
	c.failAllLocked(ErrClosed)
	c.mu.Unlock()
	return nil
}

// ServerInfo returns the limits of the last HELLO_OK.
func (c *Client) ServerInfo() ServerInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info
}

// Reconnects counts connections re-established after a loss.
func (c *Client) Reconnects() uint64 { return c.reconnects.Load() }

// FramesMade counts request frames built from calls (a merged frame once,
// a resend not again); CallsFramed, the calls that went into them.
func (c *Client) FramesMade() uint64  { return c.framesMade.Load() }
func (c *Client) CallsFramed() uint64 { return c.callsFramed.Load() }

// QueuedOps is the number of ops waiting for a slot now.
func (c *Client) QueuedOps() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queuedOps
}

// ---- Calls ----

// Apply sends ops as one request (stamped with the current time as its
// issue time) and returns one result per op, in order. A refusal is a
// Result code, not an error; an error means no answer: the ops may or may
// not have applied; retry with the same op ids via ApplyIssued.
func (c *Client) Apply(ctx context.Context, ops ...Op) ([]Result, error) {
	return c.apply(ctx, c.opts.Clock(), false, ops)
}

// ApplyIssued is Apply for an application's own retry of an earlier call:
// issuedNs is when the ops were first issued (ns since the Unix epoch), so
// a retry older than the server's op-id retention answers op_expired
// instead of applying twice. Such a call is never merged with others.
func (c *Client) ApplyIssued(ctx context.Context, issuedNs uint64, ops ...Op) ([]Result, error) {
	return c.apply(ctx, issuedNs, true, ops)
}

func (c *Client) apply(ctx context.Context, issued uint64, alone bool, ops []Op) ([]Result, error) {
	if len(ops) == 0 {
		return nil, errors.New("coffer: Apply with no ops")
	}
	if max := c.frameOpsMax(); len(ops) > max {
		return nil, fmt.Errorf("coffer: %d ops in one call, the server takes at most %d", len(ops), max)
	}
	r := request{kind: kindOps, ops: append([]Op(nil), ops...), issuedNs: issued}
	v, err := c.call(ctx, r, alone)
	if err != nil {
		return nil, err
	}
	return v.([]Result), nil
}

// Lookup reads accounts (one record per id, in order; ID 0: not found).
func (c *Client) Lookup(ctx context.Context, ids ...uint64) (LookupReply, error) {
	if len(ids) == 0 {
		return LookupReply{}, errors.New("coffer: Lookup with no ids")
	}
	v, err := c.call(ctx, request{kind: kindLookup, ids: append([]uint64(nil), ids...)}, false)
	if err != nil {
		return LookupReply{}, err
	}
	return v.(LookupReply), nil
}

// History reads one page of an account's history, newest first.
func (c *Client) History(ctx context.Context, q HistoryQuery) (HistoryPage, error) {
	v, err := c.call(ctx, request{kind: kindHistory, history: q}, false)
	if err != nil {
		return HistoryPage{}, err
	}
	return v.(HistoryPage), nil
}

// Stats returns the server's counters.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	v, err := c.call(ctx, request{kind: kindStats}, false)
	if err != nil {
		return Stats{}, err
	}
	return v.(Stats), nil
}

// Digest returns the ledger's state digest.
func (c *Client) Digest(ctx context.Context) (Digest, error) {
	v, err := c.call(ctx, request{kind: kindDigest}, false)
	if err != nil {
		return Digest{}, err
	}
	return v.(Digest), nil
}

// Ping checks liveness (and keeps an idle connection open).
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.call(ctx, request{kind: kindPing}, false)
	return err
}

// Stages returns the server's latency breakdown. A server older than
// STAGES answers ERROR unknown_kind and closes (the client reconnects).
func (c *Client) Stages(ctx context.Context) ([]Stage, error) {
	v, err := c.call(ctx, request{kind: kindStages}, false)
	if err != nil {
		return nil, err
	}
	return v.([]Stage), nil
}

// Disk returns the disk use of the server's data.
func (c *Client) Disk(ctx context.Context) ([]DiskArea, error) {
	v, err := c.call(ctx, request{kind: kindDisk}, false)
	if err != nil {
		return nil, err
	}
	return v.([]DiskArea), nil
}

// Backup asks the server to copy its data directory to path (absolute,
// on the server's host, absent or empty). A refusal is a *ServerError
// with code backup_failed. Give ctx a long deadline for a large ledger.
func (c *Client) Backup(ctx context.Context, path string) (BackupReply, error) {
	v, err := c.call(ctx, request{kind: kindBackup, path: path}, false)
	if err != nil {
		return BackupReply{}, err
	}
	return v.(BackupReply), nil
}

func (c *Client) call(ctx context.Context, r request, alone bool) (interface{}, error) {
	if _, ok := ctx.Deadline(); !ok && c.opts.CallTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.CallTimeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cl := &call{req: r, weight: len(r.ops), alone: alone || c.opts.NoCoalesce, done: make(chan outcome, 1)}
	if cl.weight == 0 {
		cl.weight = 1
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if c.queuedOps > 0 && c.queuedOps+cl.weight > c.opts.MaxQueuedOps {
		n := c.queuedOps
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %d ops waiting, at most %d (MaxQueuedOps); not sent", ErrQueueFull, n, c.opts.MaxQueuedOps)
	}
	c.queue = append(c.queue, cl)
	c.queuedOps += cl.weight
	hook := c.onQueued
	c.mu.Unlock()
	c.signal()
	if hook != nil {
		hook()
	}
	select {
	case o := <-cl.done:
		return o.v, o.err
	case <-ctx.Done():
		cl.abandoned.Store(true)
		return nil, fmt.Errorf("coffer: %w: no answer; the request may still be applied (retry with the same op ids and issue time)", ctx.Err())
	}
}

func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// ---- The sender goroutine: frames queued calls, writes, reconnects. ----

func (c *Client) run() {
	defer close(c.done)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.wake:
		}
		for {
			c.mu.Lock()
			if c.closed {
				c.mu.Unlock()
				return
			}
			cn := c.cur
			if cn == nil {
				idle := len(c.pending) == 0 && len(c.queue) == 0
				c.mu.Unlock()
				if idle {
					break // reconnect when next needed
				}
				c.reconnect()
				continue
			}
			out := c.takeFramesLocked(cn)
			c.mu.Unlock()
			if len(out) == 0 {
				break
			}
			c.write(cn, out)
		}
	}
}

func (c *Client) write(cn *conn, frames [][]byte) {
	bufs := net.Buffers(frames)
	if _, err := bufs.WriteTo(cn.nc); err != nil {
		c.lost(cn, connError("write", err))
	}
}

func (c *Client) slotsLocked() int {
	n := int(c.info.MaxRequestsInFlight)
	if c.opts.MaxFramesInFlight > 0 && c.opts.MaxFramesInFlight < n {
		n = c.opts.MaxFramesInFlight
	}
	if n < 1 {
		n = 1
	}
	return n
}

func (c *Client) frameOpsMax() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frameOpsMaxLocked()
}

// Most ops in one frame: the server's two limits (a version 2 body begins
// with the 8-byte issue time).
func (c *Client) frameOpsMaxLocked() int {
	n := int(c.info.MaxOpsPerRequest)
	if b := (int(c.info.MaxBodyBytes) - 8) / opBytes; b < n {
		n = b
	}
	if n < 1 {
		n = 1
	}
	return n
}

// mergeable: an ops call that may share a frame (fits one, and its last op
// does not leave a chain open into the next call's ops).
func mergeable(cl *call, opsMax int) bool {
	ops := cl.req.ops
	return cl.req.kind == kindOps && !cl.alone && len(ops) > 0 && len(ops) <= opsMax &&
		ops[len(ops)-1].Flags&FlagLinked == 0
}

func (c *Client) popLocked() *call {
	cl := c.queue[0]
	c.queue[0] = nil
	c.queue = c.queue[1:]
	c.queuedOps -= cl.weight
	return cl
}

// takeFramesLocked returns the frames to write now on cn: busy retries
// that are due, then new frames for as many free slots as the queue fills.
func (c *Client) takeFramesLocked(cn *conn) [][]byte {
	var out [][]byte
	for _, f := range c.resend {
		if c.pending[f.id] == f {
			out = append(out, c.sendLocked(f, cn))
		}
	}
	c.resend = nil
	slots, opsMax := c.slotsLocked(), c.frameOpsMaxLocked()
	for len(c.queue) > 0 && len(c.pending) < slots {
		first := c.popLocked()
		if first.abandoned.Load() {
			continue
		}
		calls, n := []*call{first}, len(first.req.ops)
		if mergeable(first, opsMax) {
			for len(c.queue) > 0 {
				next := c.queue[0]
				if next.abandoned.Load() {
					c.popLocked()
					continue
				}
				if !mergeable(next, opsMax) || n+len(next.req.ops) > opsMax {
					break
				}
				calls = append(calls, c.popLocked())
				n += len(next.req.ops)
			}
		}
		f := &inflight{id: c.nextID, calls: calls}
		c.nextID++
		if len(calls) == 1 {
			f.req = first.req
		} else {
			f.req = request{kind: kindOps, ops: make([]Op, 0, n), issuedNs: first.req.issuedNs}
			for _, cl := range calls {
				f.req.ops = append(f.req.ops, cl.req.ops...)
				// The oldest call's time is true of every op in the frame.
				if cl.req.issuedNs < f.req.issuedNs {
					f.req.issuedNs = cl.req.issuedNs
				}
			}
		}
		c.framesMade.Add(1)
		c.callsFramed.Add(uint64(len(calls)))
		c.pending[f.id] = f
		if c.unsendableLocked(f, cn) {
			continue
		}
		out = append(out, c.sendLocked(f, cn))
	}
	return out
}

// unsendableLocked fails (true) a request cn's version cannot carry.
func (c *Client) unsendableLocked(f *inflight, cn *conn) bool {
	if f.req.kind == kindHistory && f.req.history.filtered() && cn.version < 2 {
		c.finishLocked(f, nil, fmt.Errorf("%w: history filters; the server speaks version %d", ErrNeedsVersion2, cn.version))
		return true
	}
	return false
}

func (c *Client) sendLocked(f *inflight, cn *conn) []byte {
	if f.frame == nil || f.frameVersion != cn.version {
		// Encoded once per version; every resend is these bytes.
		f.frame = f.req.encode(cn.version, f.id)
		f.frameVersion = cn.version
	}
	f.gen = cn.gen
	return f.frame
}

// finishLocked removes f and answers its calls (each call of a merged
// frame gets its own slice of the results).
func (c *Client) finishLocked(f *inflight, v interface{}, err error) {
	if c.pending[f.id] != f {
		return
	}
	delete(c.pending, f.id)
	if err == nil && f.req.kind == kindOps {
		if rs := v.([]Result); len(rs) != len(f.req.ops) {
			err = protocolErrorf("the server answered %d results to %d ops", len(rs), len(f.req.ops))
		}
	}
	if err != nil {
		for _, cl := range f.calls {
			cl.done <- outcome{err: err}
		}
		return
	}
	if len(f.calls) == 1 {
		f.calls[0].done <- outcome{v: v}
		return
	}
	rs, at := v.([]Result), 0
	for _, cl := range f.calls {
		n := len(cl.req.ops)
		cl.done <- outcome{v: rs[at : at+n : at+n]}
		at += n
	}
}

func (c *Client) failAllLocked(err error) {
	ids := make([]uint64, 0, len(c.pending))
	for id := range c.pending {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		c.finishLocked(c.pending[id], nil, err)
	}
	for len(c.queue) > 0 {
		c.popLocked().done <- outcome{err: err}
	}
	c.resend = nil
}

// ---- Connections ----

// connError classifies a socket error: the server's close is
// ErrConnectionClosed.
func connError(op string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return fmt.Errorf("%w (%s: %v)", ErrConnectionClosed, op, err)
	}
	return fmt.Errorf("coffer: %s: %w", op, err)
}

func readFrame(br *bufio.Reader) (header, []byte, error) {
	var hb [headerBytes]byte
	if _, err := io.ReadFull(br, hb[:]); err != nil {
		return header{}, nil, connError("read", err)
	}
	h := decodeHeader(hb[:])
	if h.Magic != Magic {
		return h, nil, protocolErrorf("bad magic 0x%08x from the server", h.Magic)
	}
	if h.BodyBytes > replyBodyBytesMax {
		return h, nil, protocolErrorf("frame body of %d bytes from the server, at most %d", h.BodyBytes, replyBodyBytesMax)
	}
	body := make([]byte, h.BodyBytes)
	if _, err := io.ReadFull(br, body); err != nil {
		return h, nil, connError("read", err)
	}
	if sum := XXH3(body); sum != h.BodyXXH3 {
		return h, nil, protocolErrorf("bad checksum in %s frame: 0x%016x, body hashes to 0x%016x", kindName(h.Kind), h.BodyXXH3, sum)
	}
	return h, body, nil
}

// dialOnce connects and completes HELLO.
func (c *Client) dialOnce(ctx context.Context) (*conn, *bufio.Reader, ServerInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.opts.Addr)
	if err != nil {
		return nil, nil, ServerInfo{}, fmt.Errorf("coffer: connect %s: %w", c.opts.Addr, err)
	}
	fail := func(err error) (*conn, *bufio.Reader, ServerInfo, error) {
		nc.Close()
		return nil, nil, ServerInfo{}, err
	}
	// The handshake within the connect timeout (or ctx, if sooner).
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	c.mu.Unlock()
	hello := request{kind: kindHello, minVer: VersionMin, maxVer: c.opts.MaxVersion, token: []byte(c.opts.Token)}
	if _, err := nc.Write(hello.encode(1, id)); err != nil {
		return fail(connError("write hello", err))
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	h, body, err := readFrame(br)
	if err != nil {
		return fail(err)
	}
	v, err := decodeReply(h, body)
	if err != nil {
		return fail(err)
	}
	if se, ok := v.(*ServerError); ok {
		return fail(&HandshakeError{Server: se})
	}
	info, ok := v.(ServerInfo)
	if !ok || h.RequestID != id {
		return fail(protocolErrorf("expected hello_ok for request %d, got %s for %d", id, kindName(h.Kind), h.RequestID))
	}
	if info.Version < VersionMin || info.Version > c.opts.MaxVersion {
		return fail(protocolErrorf("the server chose protocol version %d, this client asked for %d..%d", info.Version, VersionMin, c.opts.MaxVersion))
	}
	nc.SetDeadline(time.Time{})
	return &conn{nc: nc, version: info.Version}, br, info, nil
}

// install makes cn current and resends every unanswered request on it,
// oldest first, with the same bytes.
func (c *Client) install(cn *conn, br *bufio.Reader, info ServerInfo, reconnect bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cn.nc.Close()
		return
	}
	c.gen++
	cn.gen = c.gen
	c.cur, c.info, c.lastServer, c.resend = cn, info, nil, nil
	ids := make([]uint64, 0, len(c.pending))
	for id := range c.pending {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var out [][]byte
	for _, id := range ids {
		f := c.pending[id]
		f.resends++
		if f.resends > c.opts.MaxResends {
			c.finishLocked(f, nil, &UnavailableError{Attempts: f.resends - 1,
				Cause: fmt.Errorf("coffer: request resent on %d connections without an answer", f.resends-1)})
			continue
		}
		if c.unsendableLocked(f, cn) {
			continue
		}
		out = append(out, c.sendLocked(f, cn))
	}
	c.mu.Unlock()
	if reconnect {
		c.reconnects.Add(1)
	}
	go c.readLoop(cn, br)
	if len(out) > 0 {
		c.write(cn, out)
	}
}

// reconnect tries to regain a connection (sender goroutine); on failure
// every unanswered and queued call fails.
func (c *Client) reconnect() {
	c.mu.Lock()
	cause := c.lastCause
	c.mu.Unlock()
	backoff := c.opts.ReconnectBackoff
	attempts := c.opts.ReconnectAttempts
	for i := 0; i < attempts; i++ {
		t := time.NewTimer(backoff)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if backoff *= 2; backoff > backoffMax {
			backoff = backoffMax
		}
		cn, br, info, err := c.dialOnce(c.ctx)
		if err == nil {
			c.install(cn, br, info, true)
			return
		}
		if c.ctx.Err() != nil {
			return
		}
		cause = err
		var he *HandshakeError
		if errors.As(err, &he) && (he.Server.Code == ErrCodeAuthFailed || he.Server.Code == ErrCodeUnsupportedVersion) {
			break // will not change on retry
		}
	}
	if cause == nil {
		cause = ErrConnectionClosed
	}
	c.mu.Lock()
	c.failAllLocked(&UnavailableError{Attempts: attempts, Cause: cause})
	c.mu.Unlock()
}

// lost drops cn (any goroutine); the sender reconnects if work remains.
func (c *Client) lost(cn *conn, err error) {
	c.mu.Lock()
	if c.cur == cn {
		c.cur = nil
		if c.lastServer != nil {
			err = fmt.Errorf("%w (the server's last word: %v: %s)", err, c.lastServer.Code, c.lastServer.Message)
		}
		c.lastCause = err
	}
	c.mu.Unlock()
	cn.nc.Close()
	c.signal()
}

func (c *Client) readLoop(cn *conn, br *bufio.Reader) {
	for {
		h, body, err := readFrame(br)
		if err == nil {
			var v interface{}
			if v, err = decodeReply(h, body); err == nil {
				err = c.dispatch(cn, h, v)
			}
		}
		if err != nil {
			c.lost(cn, err)
			return
		}
	}
}

var errStale = errors.New("coffer: stale connection")

func (c *Client) dispatch(cn *conn, h header, v interface{}) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != cn {
		return errStale
	}
	f := c.pending[h.RequestID]
	if se, ok := v.(*ServerError); ok {
		if f == nil || h.RequestID == 0 {
			// About the connection (idle_timeout, shutting_down...): it
			// closes next; what is unanswered is resent after reconnecting.
			c.lastServer = se
			return nil
		}
		switch se.Code {
		case ErrCodeBusy:
			if f.busyRetries < c.opts.BusyRetries {
				c.busyRetryLocked(f)
				return nil
			}
		case ErrCodeShuttingDown:
			c.lastServer = se
			return nil // resent after reconnecting
		}
		c.finishLocked(f, nil, se)
		c.signal()
		return nil
	}
	if f == nil {
		return nil // an answer to a request given up
	}
	if h.Kind != f.req.kind|kindReply {
		return protocolErrorf("%s to a %s request", kindName(h.Kind), kindName(f.req.kind))
	}
	c.finishLocked(f, v, nil)
	c.signal()
	return nil
}

func (c *Client) busyRetryLocked(f *inflight) {
	shift := f.busyRetries
	if shift > 10 {
		shift = 10
	}
	delay := c.opts.BusyBackoff << shift
	if delay > backoffMax {
		delay = backoffMax
	}
	f.busyRetries++
	gen := f.gen
	time.AfterFunc(delay, func() {
		c.mu.Lock()
		// A reconnect in between has resent it already.
		if !c.closed && c.pending[f.id] == f && f.gen == gen && c.cur != nil && c.cur.gen == gen {
			c.resend = append(c.resend, f)
		}
		c.mu.Unlock()
		c.signal()
	})
}
