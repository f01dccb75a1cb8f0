package coffer

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Protocol constants (net/PROTOCOL.md, "Frame").
const (
	Magic       uint32 = 0x52464F43 // "COFR"
	VersionMin  uint16 = 1
	VersionMax  uint16 = 2
	headerBytes        = 32
	opBytes            = 64
	resultBytes        = 24

	// Largest reply body the client accepts (the C++ client's bound).
	replyBodyBytesMax = 64 << 20
	// Most ops in one linked chain.
	ChainOpsMax = 64
	// Longest auth token HELLO carries.
	TokenBytesMax = 256
)

// Message kinds. A reply's kind is its request's kind with bit 7 set.
const (
	kindHello   uint16 = 0x01
	kindOps     uint16 = 0x02
	kindLookup  uint16 = 0x03
	kindHistory uint16 = 0x04
	kindStats   uint16 = 0x05
	kindDigest  uint16 = 0x06
	kindPing    uint16 = 0x07
	kindStages  uint16 = 0x08
	kindDisk    uint16 = 0x09
	kindBackup  uint16 = 0x0a
	kindReply   uint16 = 0x80
	kindError   uint16 = 0xff
)

func kindName(k uint16) string {
	names := map[uint16]string{
		0x01: "hello", 0x02: "ops", 0x03: "lookup", 0x04: "history", 0x05: "stats",
		0x06: "digest", 0x07: "ping", 0x08: "stages", 0x09: "disk", 0x0a: "backup",
		0x81: "hello_ok", 0x82: "ops_reply", 0x83: "lookup_reply", 0x84: "history_reply",
		0x85: "stats_reply", 0x86: "digest_reply", 0x87: "pong", 0x88: "stages_reply",
		0x89: "disk_reply", 0x8a: "backup_reply", 0xff: "error",
	}
	if n, ok := names[k]; ok {
		return n
	}
	return fmt.Sprintf("kind 0x%02x", k)
}

// OpKind is an op's kind (PROTOCOL.md, table op_kinds).
type OpKind uint8

const (
	OpCreateAccount OpKind = 1
	OpCredit        OpKind = 2
	OpDebit         OpKind = 3
	OpTransfer      OpKind = 4
	OpHold          OpKind = 5
	OpCapture       OpKind = 6
	OpRelease       OpKind = 7
)

func (k OpKind) String() string {
	switch k {
	case OpCreateAccount:
		return "create_account"
	case OpCredit:
		return "credit"
	case OpDebit:
		return "debit"
	case OpTransfer:
		return "transfer"
	case OpHold:
		return "hold"
	case OpCapture:
		return "capture"
	case OpRelease:
		return "release"
	}
	return fmt.Sprintf("op_kind_%d", uint8(k))
}

// Op flags and account flags.
const (
	FlagLinked uint16 = 1 << 0 // Op.Flags: chained with the next op

	AccountOverdraft uint32 = 1 << 0 // Op.AccountFlags / Account.Flags
	AccountCap       uint32 = 1 << 1
)

// Op is one 64-byte operation (PROTOCOL.md, "OPS"). Build it with the
// constructors (CreateAccount, Credit, ...) and the With* methods, or
// fill the fields yourself: the ledger, not the client, validates them.
type Op struct {
	ID           uint64 // op id: non-zero, unique; a retry reuses it
	Account      uint64 // account_id
	Other        uint64 // other_account_id: transfer's credited account, capture's destination
	Amount       uint64
	Aux          uint64 // create_account: cap; hold: timeout ms; capture/release: hold id
	UserData     uint64
	Reason       uint32
	Currency     uint32 // create_account: the currency; others: 0 or a guard
	AccountFlags uint32 // create_account: AccountOverdraft, AccountCap
	Kind         OpKind
	Flags        uint16 // FlagLinked
}

// CreateAccount makes account `account` in `currency` (non-zero).
func CreateAccount(opID, account uint64, currency uint32) Op {
	return Op{ID: opID, Account: account, Currency: currency, Kind: OpCreateAccount}
}

// WithOverdraft lets a new account's balance go down to -limit.
func (o Op) WithOverdraft(limit uint64) Op {
	o.AccountFlags |= AccountOverdraft
	o.Amount = limit
	return o
}

// WithCap refuses credits that would take a new account above cap.
func (o Op) WithCap(cap uint64) Op {
	o.AccountFlags |= AccountCap
	o.Aux = cap
	return o
}

// Credit adds amount to account.
func Credit(opID, account, amount uint64) Op {
	return Op{ID: opID, Account: account, Amount: amount, Kind: OpCredit}
}

// Debit takes amount from account.
func Debit(opID, account, amount uint64) Op {
	return Op{ID: opID, Account: account, Amount: amount, Kind: OpDebit}
}

// Transfer moves amount from `from` to `to`.
func Transfer(opID, from, to, amount uint64) Op {
	return Op{ID: opID, Account: from, Other: to, Amount: amount, Kind: OpTransfer}
}

// Hold reserves amount on account; timeout 0: it never expires. Its hold
// id is opID. The timeout is sent in whole milliseconds.
func Hold(opID, account, amount uint64, timeout time.Duration) Op {
	return Op{ID: opID, Account: account, Amount: amount, Aux: uint64(timeout / time.Millisecond), Kind: OpHold}
}

// Capture moves amount (0: all) of hold holdID on account to dest.
func Capture(opID, account, holdID, dest, amount uint64) Op {
	return Op{ID: opID, Account: account, Other: dest, Amount: amount, Aux: holdID, Kind: OpCapture}
}

// Release voids hold holdID on account.
func Release(opID, account, holdID uint64) Op {
	return Op{ID: opID, Account: account, Aux: holdID, Kind: OpRelease}
}

// WithReason sets the reason code stored in history.
func (o Op) WithReason(reason uint32) Op { o.Reason = reason; return o }

// WithUserData sets the reference stored in history.
func (o Op) WithUserData(u uint64) Op { o.UserData = u; return o }

// WithCurrency sets the currency guard (for create_account, the currency).
func (o Op) WithCurrency(c uint32) Op { o.Currency = c; return o }

// Linked chains the op with the next one (all or nothing).
func (o Op) Linked() Op { o.Flags |= FlagLinked; return o }

// ResultCode is an op's outcome (PROTOCOL.md, table result_codes). Codes
// above 27 may come from later servers: treat any code but OK as a refusal.
type ResultCode uint16

const (
	OK                             ResultCode = 0
	LinkedOpFailed                 ResultCode = 1
	LinkedChainOpen                ResultCode = 2
	LinkedChainTooLong             ResultCode = 3
	OpIDZero                       ResultCode = 4
	AccountIDZero                  ResultCode = 5
	InvalidKind                    ResultCode = 6
	InvalidFlags                   ResultCode = 7
	InvalidField                   ResultCode = 8
	AmountZero                     ResultCode = 9
	SameAccount                    ResultCode = 10
	CurrencyZero                   ResultCode = 11
	AccountNotFound                ResultCode = 12
	AccountExists                  ResultCode = 13
	AccountExistsWithDifferentFlds ResultCode = 14
	CurrencyMismatch               ResultCode = 15
	InsufficientFunds              ResultCode = 16
	BalanceCapExceeded             ResultCode = 17
	Overflow                       ResultCode = 18
	OpIDReusedWithDifferentFields  ResultCode = 19
	HoldNotFound                   ResultCode = 20
	HoldAlreadyClosed              ResultCode = 21
	HoldExpired                    ResultCode = 22
	CaptureExceedsHold             ResultCode = 23
	OverdraftLimitTooLarge         ResultCode = 24
	OpIDRepeatedInChain            ResultCode = 25
	OpIssuedInFuture               ResultCode = 26
	OpExpired                      ResultCode = 27
)

var resultCodeNames = [...]string{
	"ok", "linked_op_failed", "linked_chain_open", "linked_chain_too_long",
	"op_id_zero", "account_id_zero", "invalid_kind", "invalid_flags",
	"invalid_field", "amount_zero", "same_account", "currency_zero",
	"account_not_found", "account_exists", "account_exists_with_different_fields",
	"currency_mismatch", "insufficient_funds", "balance_cap_exceeded", "overflow",
	"op_id_reused_with_different_fields", "hold_not_found", "hold_already_closed",
	"hold_expired", "capture_exceeds_hold", "overdraft_limit_too_large",
	"op_id_repeated_in_chain", "op_issued_in_future", "op_expired",
}

func (c ResultCode) String() string {
	if int(c) < len(resultCodeNames) {
		return resultCodeNames[c]
	}
	return fmt.Sprintf("result_code_%d", uint16(c))
}

// Result is one op's answer (24 bytes on the wire).
type Result struct {
	Code         ResultCode
	Flags        uint16 // bit 0: duplicate
	BalanceAfter int64  // balance of the op's account after it (or now, if refused)
	Seq          uint64 // ledger position; 0 if refused before ordering
}

// Duplicate reports whether this answers a retry of an op already
// applied or refused (the original answer, changed nothing).
func (r Result) Duplicate() bool { return r.Flags&1 != 0 }

// OK reports whether the op applied (code 0).
func (r Result) OK() bool { return r.Code == OK }

func (r Result) String() string {
	d := ""
	if r.Duplicate() {
		d = " duplicate"
	}
	return fmt.Sprintf("%v%s balance_after=%d seq=%d", r.Code, d, r.BalanceAfter, r.Seq)
}

// ErrorCode is an ERROR frame's code (PROTOCOL.md, table error_codes).
type ErrorCode uint16

const (
	ErrCodeBadMagic           ErrorCode = 1
	ErrCodeUnsupportedVersion ErrorCode = 2
	ErrCodeUnknownKind        ErrorCode = 3
	ErrCodeFrameTooLarge      ErrorCode = 4
	ErrCodeBadChecksum        ErrorCode = 5
	ErrCodeBadLength          ErrorCode = 6
	ErrCodeInvalidField       ErrorCode = 7
	ErrCodeHandshakeRequired  ErrorCode = 8
	ErrCodeAuthFailed         ErrorCode = 9
	ErrCodeBusy               ErrorCode = 10
	ErrCodeShuttingDown       ErrorCode = 11
	ErrCodeDuplicateRequestID ErrorCode = 12
	ErrCodeTooManyConnections ErrorCode = 13
	ErrCodeIdleTimeout        ErrorCode = 14
	ErrCodeTruncatedFrame     ErrorCode = 15
	ErrCodeUnexpectedKind     ErrorCode = 16
	ErrCodeInternal           ErrorCode = 17
	ErrCodeBackupFailed       ErrorCode = 18
)

var errorCodeNames = [...]string{
	"", "bad_magic", "unsupported_version", "unknown_kind", "frame_too_large",
	"bad_checksum", "bad_length", "invalid_field", "handshake_required",
	"auth_failed", "busy", "shutting_down", "duplicate_request_id",
	"too_many_connections", "idle_timeout", "truncated_frame", "unexpected_kind",
	"internal", "backup_failed",
}

func (c ErrorCode) String() string {
	if c > 0 && int(c) < len(errorCodeNames) {
		return errorCodeNames[c]
	}
	return fmt.Sprintf("error_code_%d", uint16(c))
}

// EntryKind is a history entry's kind (PROTOCOL.md, table entry_kinds).
type EntryKind uint8

const (
	EntryCreate      EntryKind = 1
	EntryCredit      EntryKind = 2
	EntryDebit       EntryKind = 3
	EntryTransferOut EntryKind = 4
	EntryTransferIn  EntryKind = 5
	EntryHold        EntryKind = 6
	EntryCaptureOut  EntryKind = 7
	EntryCaptureIn   EntryKind = 8
	EntryRelease     EntryKind = 9
	EntryHoldExpired EntryKind = 10
)

var entryKindNames = [...]string{"", "create", "credit", "debit", "transfer_out",
	"transfer_in", "hold", "capture_out", "capture_in", "release", "hold_expired"}

func (k EntryKind) String() string {
	if k > 0 && int(k) < len(entryKindNames) {
		return entryKindNames[k]
	}
	return fmt.Sprintf("entry_kind_%d", uint8(k))
}

// ServerInfo is what HELLO_OK announced.
type ServerInfo struct {
	Version             uint16
	ShardCount          uint32
	MaxBodyBytes        uint32
	MaxOpsPerRequest    uint32
	MaxRequestsInFlight uint32
	MaxHistoryLimit     uint32
}

// Account is one record of a lookup; ID 0: the account does not exist.
type Account struct {
	ID             uint64
	Balance        int64
	Held           uint64 // available = Balance - Held
	OverdraftLimit uint64
	BalanceCap     uint64
	Currency       uint32
	Flags          uint32
	HistoryCount   uint32
}

// Exists reports whether the looked-up account exists.
func (a Account) Exists() bool { return a.ID != 0 }

// LookupReply is a consistent read of accounts at ledger position Seq.
type LookupReply struct {
	Seq      uint64
	Accounts []Account
}

// HistoryQuery asks for one page of an account's history, newest first.
// The filters (TimestampMin/Max, Reason with FilterReason) need protocol
// version 2.
type HistoryQuery struct {
	Account      uint64
	Before       uint32 // only entries numbered below this; 0: from the newest
	Limit        uint32 // 1..ServerInfo.MaxHistoryLimit
	TimestampMin uint64 // ns since the epoch; 0: no bound
	TimestampMax uint64 // 0: no bound
	Reason       uint32
	FilterReason bool // only entries with Reason
}

func (q HistoryQuery) filtered() bool {
	return q.TimestampMin != 0 || q.TimestampMax != 0 || q.Reason != 0 || q.FilterReason
}

// Entry is one applied change to one account.
type Entry struct {
	Seq       uint64
	OpID      uint64
	Account   uint64
	Other     uint64
	Amount    int64 // signed change of the balance
	HeldDelta int64
	Balance   int64 // balance after
	HeldAfter uint64
	UserData  uint64
	Timestamp uint64 // engine time, ns since the epoch
	Reason    uint32
	Number    uint32 // per-account entry number: the cursor
	Kind      EntryKind
}

// HistoryPage is one page; pass NextBefore as Before for the next, until 0.
type HistoryPage struct {
	Seq        uint64
	NextBefore uint32
	Found      bool
	Entries    []Entry
}

// ShardStats are one shard's counters.
type ShardStats struct {
	TxnsApplied, MultiShardTxns, DeferredTxns, Accounts uint64
}

// Stats are the server's counters since start (STATS).
type Stats struct {
	Requests, OpsSequenced, Duplicates, RefusedBeforeOrdering uint64
	LastSeq, DurableSeq, LogSyncs, LogRecords                 uint64
	Snapshots, SnapshotFailures, SnapshotSeq, SnapshotPauseUs uint64
	ConnectionsOpen, ConnectionsAccepted, ConnectionsRefused  uint64
	FramesReceived, RepliesSent, ProtocolErrors               uint64
	SubmitRetries, BusyReplies                                uint64
	Shards                                                    []ShardStats
}

// Int128 is a two's complement 128-bit sum (Hi:Lo).
type Int128 struct {
	Lo uint64
	Hi int64
}

// Int64 returns the value and whether it fits an int64.
func (v Int128) Int64() (int64, bool) {
	x := int64(v.Lo)
	return x, (x < 0 && v.Hi == -1) || (x >= 0 && v.Hi == 0)
}

// CurrencyDigest is the per-currency part of a digest.
type CurrencyDigest struct {
	Currency uint32
	Accounts uint64
	Balance  Int128
	Held     Int128
}

// Digest is an order-independent digest of the ledger at Seq (DIGEST).
type Digest struct {
	Seq        uint64
	Lo, Hi     uint64
	Accounts   uint64
	Holds      uint64
	Currencies []CurrencyDigest
}

// Stage is one latency stage of STAGES.
type Stage struct {
	Stage                         uint16
	Count, P50, P99, P999, MaxVal uint64 // ns (stage 8: ops)
}

// DiskArea is one area of DISK (1 log, 2 archive, 3 snapshots, 4 op-id
// index, 5 history store).
type DiskArea struct {
	Area         uint16
	Files, Bytes uint64
}

// BackupReply is the answer to BACKUP.
type BackupReply struct {
	Seq, SnapshotSeq, Files, Bytes, DurationUs uint64
}

// ---- Frames ----

type header struct {
	Magic     uint32
	Version   uint16
	Kind      uint16
	RequestID uint64
	Count     uint32
	BodyBytes uint32
	BodyXXH3  uint64
}

var le = binary.LittleEndian

func decodeHeader(b []byte) header {
	return header{
		Magic:     le.Uint32(b[0:]),
		Version:   le.Uint16(b[4:]),
		Kind:      le.Uint16(b[6:]),
		RequestID: le.Uint64(b[8:]),
		Count:     le.Uint32(b[16:]),
		BodyBytes: le.Uint32(b[20:]),
		BodyXXH3:  le.Uint64(b[24:]),
	}
}

// frame builds header + body.
func frame(version, kind uint16, requestID uint64, count uint32, body []byte) []byte {
	out := make([]byte, headerBytes+len(body))
	le.PutUint32(out[0:], Magic)
	le.PutUint16(out[4:], version)
	le.PutUint16(out[6:], kind)
	le.PutUint64(out[8:], requestID)
	le.PutUint32(out[16:], count)
	le.PutUint32(out[20:], uint32(len(body)))
	le.PutUint64(out[24:], XXH3(body))
	copy(out[headerBytes:], body)
	return out
}

// request is a request message, encodable for either version.
type request struct {
	kind     uint16
	token    []byte // hello
	minVer   uint16 // hello
	maxVer   uint16 // hello
	ops      []Op   // ops
	issuedNs uint64 // ops, version 2
	ids      []uint64
	history  HistoryQuery
	path     string // backup
}

func putOp(b []byte, o *Op) {
	le.PutUint64(b[0:], o.ID)
	le.PutUint64(b[8:], o.Account)
	le.PutUint64(b[16:], o.Other)
	le.PutUint64(b[24:], o.Amount)
	le.PutUint64(b[32:], o.Aux)
	le.PutUint64(b[40:], o.UserData)
	le.PutUint32(b[48:], o.Reason)
	le.PutUint32(b[52:], o.Currency)
	le.PutUint32(b[56:], o.AccountFlags)
	b[60] = byte(o.Kind)
	b[61] = 0
	le.PutUint16(b[62:], o.Flags)
}

func getOp(b []byte) Op {
	return Op{
		ID: le.Uint64(b[0:]), Account: le.Uint64(b[8:]), Other: le.Uint64(b[16:]),
		Amount: le.Uint64(b[24:]), Aux: le.Uint64(b[32:]), UserData: le.Uint64(b[40:]),
		Reason: le.Uint32(b[48:]), Currency: le.Uint32(b[52:]), AccountFlags: le.Uint32(b[56:]),
		Kind: OpKind(b[60]), Flags: le.Uint16(b[62:]),
	}
}

// encode returns the whole frame of r for a connection of `version`.
func (r *request) encode(version uint16, requestID uint64) []byte {
	switch r.kind {
	case kindHello:
		body := make([]byte, 8+len(r.token))
		le.PutUint16(body[0:], r.minVer)
		le.PutUint16(body[2:], r.maxVer)
		le.PutUint16(body[4:], uint16(len(r.token)))
		copy(body[8:], r.token)
		return frame(1, kindHello, requestID, 0, body) // HELLO is always version 1
	case kindOps:
		fixed := 0
		if version >= 2 {
			fixed = 8
		}
		body := make([]byte, fixed+opBytes*len(r.ops))
		if version >= 2 {
			le.PutUint64(body[0:], r.issuedNs)
		}
		for i := range r.ops {
			putOp(body[fixed+i*opBytes:], &r.ops[i])
		}
		return frame(version, kindOps, requestID, uint32(len(r.ops)), body)
	case kindLookup:
		body := make([]byte, 8*len(r.ids))
		for i, id := range r.ids {
			le.PutUint64(body[8*i:], id)
		}
		return frame(version, kindLookup, requestID, uint32(len(r.ids)), body)
	case kindHistory:
		n := 16
		if version >= 2 {
			n = 40
		}
		body := make([]byte, n)
		q := &r.history
		le.PutUint64(body[0:], q.Account)
		le.PutUint32(body[8:], q.Before)
		le.PutUint32(body[12:], q.Limit)
		if version >= 2 {
			le.PutUint64(body[16:], q.TimestampMin)
			le.PutUint64(body[24:], q.TimestampMax)
			le.PutUint32(body[32:], q.Reason)
			if q.FilterReason {
				le.PutUint32(body[36:], 1)
			}
		}
		return frame(version, kindHistory, requestID, 0, body)
	case kindBackup:
		body := make([]byte, 8+len(r.path))
		le.PutUint32(body[0:], uint32(len(r.path)))
		copy(body[8:], r.path)
		return frame(version, kindBackup, requestID, 0, body)
	default: // stats, digest, ping, stages, disk: empty bodies
		return frame(version, r.kind, requestID, 0, nil)
	}
}

// decodeRequest decodes a request frame's body (the inverse of encode;
// used by the conformance tests and test servers).
func decodeRequest(h header, body []byte) (*request, error) {
	r := &request{kind: h.Kind}
	bad := func() (*request, error) {
		return nil, protocolErrorf("%s: count %d and body of %d bytes disagree", kindName(h.Kind), h.Count, len(body))
	}
	switch h.Kind {
	case kindHello:
		if len(body) < 8 || int(le.Uint16(body[4:]))+8 != len(body) {
			return bad()
		}
		r.minVer, r.maxVer = le.Uint16(body[0:]), le.Uint16(body[2:])
		r.token = append([]byte(nil), body[8:]...)
	case kindOps:
		fixed := 0
		if h.Version >= 2 {
			fixed = 8
		}
		if h.Count == 0 || len(body) != fixed+int(h.Count)*opBytes {
			return bad()
		}
		if fixed == 8 {
			r.issuedNs = le.Uint64(body)
		}
		for i := 0; i < int(h.Count); i++ {
			r.ops = append(r.ops, getOp(body[fixed+i*opBytes:]))
		}
	case kindLookup:
		if h.Count == 0 || len(body) != 8*int(h.Count) {
			return bad()
		}
		for i := 0; i < int(h.Count); i++ {
			r.ids = append(r.ids, le.Uint64(body[8*i:]))
		}
	case kindHistory:
		want := 16
		if h.Version >= 2 {
			want = 40
		}
		if len(body) != want {
			return bad()
		}
		q := &r.history
		q.Account, q.Before, q.Limit = le.Uint64(body[0:]), le.Uint32(body[8:]), le.Uint32(body[12:])
		if want == 40 {
			q.TimestampMin, q.TimestampMax = le.Uint64(body[16:]), le.Uint64(body[24:])
			q.Reason, q.FilterReason = le.Uint32(body[32:]), le.Uint32(body[36:])&1 != 0
		}
	case kindBackup:
		if len(body) < 8 || int(le.Uint32(body))+8 != len(body) {
			return bad()
		}
		r.path = string(body[8:])
	case kindStats, kindDigest, kindPing, kindStages, kindDisk:
		if len(body) != 0 {
			return bad()
		}
	default:
		return nil, protocolErrorf("unknown request kind 0x%02x", h.Kind)
	}
	return r, nil
}

// decodeReply decodes a server frame's body into the reply's Go value:
// ServerInfo, []Result, LookupReply, HistoryPage, Stats, Digest, struct{}
// (pong), []Stage, []DiskArea, BackupReply or *ServerError.
func decodeReply(h header, body []byte) (interface{}, error) {
	n := int(h.Count)
	want := func(fixed, each int) error {
		if len(body) != fixed+n*each {
			return protocolErrorf("%s: count %d and body of %d bytes disagree", kindName(h.Kind), n, len(body))
		}
		return nil
	}
	i64 := func(b []byte) int64 { return int64(le.Uint64(b)) }
	switch h.Kind {
	case kindHello | kindReply:
		if err := want(24, 0); err != nil {
			return nil, err
		}
		return ServerInfo{
			Version: le.Uint16(body[0:]), ShardCount: le.Uint32(body[4:]),
			MaxBodyBytes: le.Uint32(body[8:]), MaxOpsPerRequest: le.Uint32(body[12:]),
			MaxRequestsInFlight: le.Uint32(body[16:]), MaxHistoryLimit: le.Uint32(body[20:]),
		}, nil
	case kindOps | kindReply:
		if err := want(0, resultBytes); err != nil {
			return nil, err
		}
		rs := make([]Result, n)
		for i := range rs {
			b := body[i*resultBytes:]
			rs[i] = Result{Code: ResultCode(le.Uint16(b[0:])), Flags: le.Uint16(b[2:]), BalanceAfter: i64(b[8:]), Seq: le.Uint64(b[16:])}
		}
		return rs, nil
	case kindLookup | kindReply:
		if err := want(8, 56); err != nil {
			return nil, err
		}
		r := LookupReply{Seq: le.Uint64(body), Accounts: make([]Account, n)}
		for i := range r.Accounts {
			b := body[8+i*56:]
			r.Accounts[i] = Account{
				ID: le.Uint64(b[0:]), Balance: i64(b[8:]), Held: le.Uint64(b[16:]),
				OverdraftLimit: le.Uint64(b[24:]), BalanceCap: le.Uint64(b[32:]),
				Currency: le.Uint32(b[40:]), Flags: le.Uint32(b[44:]), HistoryCount: le.Uint32(b[48:]),
			}
		}
		return r, nil
	case kindHistory | kindReply:
		if err := want(16, 96); err != nil {
			return nil, err
		}
		p := HistoryPage{Seq: le.Uint64(body), NextBefore: le.Uint32(body[8:]), Found: body[12] != 0, Entries: make([]Entry, n)}
		for i := range p.Entries {
			b := body[16+i*96:]
			p.Entries[i] = Entry{
				Seq: le.Uint64(b[0:]), OpID: le.Uint64(b[8:]), Account: le.Uint64(b[16:]),
				Other: le.Uint64(b[24:]), Amount: i64(b[32:]), HeldDelta: i64(b[40:]),
				Balance: i64(b[48:]), HeldAfter: le.Uint64(b[56:]), UserData: le.Uint64(b[64:]),
				Timestamp: le.Uint64(b[72:]), Reason: le.Uint32(b[80:]), Number: le.Uint32(b[84:]),
				Kind: EntryKind(b[88]),
			}
		}
		return p, nil
	case kindStats | kindReply:
		if err := want(160, 32); err != nil {
			return nil, err
		}
		var v [20]uint64
		for i := range v {
			v[i] = le.Uint64(body[8*i:])
		}
		s := Stats{
			Requests: v[0], OpsSequenced: v[1], Duplicates: v[2], RefusedBeforeOrdering: v[3],
			LastSeq: v[4], DurableSeq: v[5], LogSyncs: v[6], LogRecords: v[7],
			Snapshots: v[8], SnapshotFailures: v[9], SnapshotSeq: v[10], SnapshotPauseUs: v[11],
			ConnectionsOpen: v[12], ConnectionsAccepted: v[13], ConnectionsRefused: v[14],
			FramesReceived: v[15], RepliesSent: v[16], ProtocolErrors: v[17],
			SubmitRetries: v[18], BusyReplies: v[19], Shards: make([]ShardStats, n),
		}
		for i := range s.Shards {
			b := body[160+i*32:]
			s.Shards[i] = ShardStats{le.Uint64(b[0:]), le.Uint64(b[8:]), le.Uint64(b[16:]), le.Uint64(b[24:])}
		}
		return s, nil
	case kindDigest | kindReply:
		if err := want(40, 48); err != nil {
			return nil, err
		}
		d := Digest{Seq: le.Uint64(body[0:]), Lo: le.Uint64(body[8:]), Hi: le.Uint64(body[16:]),
			Accounts: le.Uint64(body[24:]), Holds: le.Uint64(body[32:]), Currencies: make([]CurrencyDigest, n)}
		for i := range d.Currencies {
			b := body[40+i*48:]
			d.Currencies[i] = CurrencyDigest{
				Currency: le.Uint32(b[0:]), Accounts: le.Uint64(b[8:]),
				Balance: Int128{Lo: le.Uint64(b[16:]), Hi: i64(b[24:])},
				Held:    Int128{Lo: le.Uint64(b[32:]), Hi: i64(b[40:])},
			}
		}
		return d, nil
	case kindPing | kindReply:
		if err := want(0, 0); err != nil {
			return nil, err
		}
		return struct{}{}, nil
	case kindStages | kindReply:
		if err := want(0, 48); err != nil {
			return nil, err
		}
		st := make([]Stage, n)
		for i := range st {
			b := body[i*48:]
			st[i] = Stage{Stage: le.Uint16(b), Count: le.Uint64(b[8:]), P50: le.Uint64(b[16:]),
				P99: le.Uint64(b[24:]), P999: le.Uint64(b[32:]), MaxVal: le.Uint64(b[40:])}
		}
		return st, nil
	case kindDisk | kindReply:
		if err := want(0, 24); err != nil {
			return nil, err
		}
		a := make([]DiskArea, n)
		for i := range a {
			b := body[i*24:]
			a[i] = DiskArea{Area: le.Uint16(b), Files: le.Uint64(b[8:]), Bytes: le.Uint64(b[16:])}
		}
		return a, nil
	case kindBackup | kindReply:
		if err := want(40, 0); err != nil {
			return nil, err
		}
		return BackupReply{le.Uint64(body[0:]), le.Uint64(body[8:]), le.Uint64(body[16:]), le.Uint64(body[24:]), le.Uint64(body[32:])}, nil
	case kindError:
		if len(body) < 8 || int(le.Uint32(body[4:]))+8 != len(body) {
			return nil, protocolErrorf("error: message_bytes and body of %d bytes disagree", len(body))
		}
		return &ServerError{
			Code: ErrorCode(le.Uint16(body[0:])), Closing: le.Uint16(body[2:])&1 != 0,
			Message: string(body[8:]), RequestID: h.RequestID,
		}, nil
	}
	return nil, protocolErrorf("unexpected frame kind 0x%02x from the server", h.Kind)
}

// encodeReply encodes a reply frame (the inverse of decodeReply, for the
// conformance tests and the test server).
func encodeReply(version uint16, requestID uint64, v interface{}) []byte {
	switch r := v.(type) {
	case ServerInfo:
		b := make([]byte, 24)
		le.PutUint16(b[0:], r.Version)
		le.PutUint32(b[4:], r.ShardCount)
		le.PutUint32(b[8:], r.MaxBodyBytes)
		le.PutUint32(b[12:], r.MaxOpsPerRequest)
		le.PutUint32(b[16:], r.MaxRequestsInFlight)
		le.PutUint32(b[20:], r.MaxHistoryLimit)
		return frame(version, kindHello|kindReply, requestID, 0, b)
	case []Result:
		b := make([]byte, resultBytes*len(r))
		for i, x := range r {
			p := b[i*resultBytes:]
			le.PutUint16(p[0:], uint16(x.Code))
			le.PutUint16(p[2:], x.Flags)
			le.PutUint64(p[8:], uint64(x.BalanceAfter))
			le.PutUint64(p[16:], x.Seq)
		}
		return frame(version, kindOps|kindReply, requestID, uint32(len(r)), b)
	case *ServerError:
		b := make([]byte, 8+len(r.Message))
		le.PutUint16(b[0:], uint16(r.Code))
		if r.Closing {
			le.PutUint16(b[2:], 1)
		}
		le.PutUint32(b[4:], uint32(len(r.Message)))
		copy(b[8:], r.Message)
		return frame(version, kindError, requestID, 0, b)
	case struct{}:
		return frame(version, kindPing|kindReply, requestID, 0, nil)
	}
	panic(fmt.Sprintf("encodeReply: %T", v))
}
