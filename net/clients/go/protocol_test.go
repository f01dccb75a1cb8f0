package coffer

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// loadExamples reads testdata/worked_examples.txt (the hex dumps of
// PROTOCOL.md "Worked examples") into name -> frame bytes.
func loadExamples(t *testing.T) map[string][]byte {
	t.Helper()
	f, err := os.Open("testdata/worked_examples.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	name := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "== "):
			name = strings.TrimPrefix(line, "== ")
		default:
			if len(line) > 48 {
				line = line[:48]
			}
			b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(line), " ", ""))
			if err != nil {
				t.Fatalf("example %s: %q: %v", name, line, err)
			}
			out[name] = append(out[name], b...)
		}
	}
	if len(out) != 13 {
		t.Fatalf("%d examples in the data file, want 13", len(out))
	}
	return out
}

// split checks the header's checksum and length and returns header, body.
func split(t *testing.T, name string, frame []byte) (header, []byte) {
	t.Helper()
	h := decodeHeader(frame)
	body := frame[headerBytes:]
	if h.Magic != Magic || int(h.BodyBytes) != len(body) {
		t.Fatalf("%s: header %+v for a body of %d bytes", name, h, len(body))
	}
	if got := XXH3(body); got != h.BodyXXH3 {
		t.Fatalf("%s: XXH3 of the body 0x%016x, the example says 0x%016x", name, got, h.BodyXXH3)
	}
	return h, body
}

func TestXXH3KnownValues(t *testing.T) {
	// The empty body (PROTOCOL.md "Frame") and xxHash's own known values.
	cases := []struct {
		in   string
		want uint64
	}{
		{"", 0x2D06800538D394C2},
		{"a", 0xE6C632B61E964E1F},
		{"abc", 0x78AF5F94892F3950},
	}
	for _, c := range cases {
		if got := XXH3([]byte(c.in)); got != c.want {
			t.Errorf("XXH3(%q) = 0x%016x, want 0x%016x", c.in, got, c.want)
		}
	}
}

func TestWorkedExamplesRequests(t *testing.T) {
	ex := loadExamples(t)
	issued := uint64(1796155200000000000)
	purchase := []Op{
		Transfer(0x5001, 2001, 2002, 120).WithUserData(43981).WithReason(7).Linked(),
		Credit(0x5002, 2003, 1).WithReason(7),
	}
	cases := []struct {
		name    string
		version uint16
		id      uint64
		req     request
	}{
		{"hello", 1, 1, request{kind: kindHello, minVer: 1, maxVer: 2, token: []byte("s3cret")}},
		{"ops", 2, 2, request{kind: kindOps, ops: purchase, issuedNs: issued}},
		{"ops_v1", 1, 2, request{kind: kindOps, ops: purchase, issuedNs: issued}},
		{"lookup", 2, 4, request{kind: kindLookup, ids: []uint64{2001}}},
		{"history", 2, 5, request{kind: kindHistory, history: HistoryQuery{Account: 2001, Limit: 20}}},
		{"history_filtered", 2, 8, request{kind: kindHistory, history: HistoryQuery{
			Account: 2001, Limit: 20, TimestampMin: 1796083200000000000,
			TimestampMax: 1796169599999999999, Reason: 7, FilterReason: true}}},
		{"ping", 2, 6, request{kind: kindPing}},
	}
	for _, c := range cases {
		want := ex[c.name]
		h, body := split(t, c.name, want)
		// Encoder: byte for byte.
		if got := c.req.encode(c.version, c.id); !bytes.Equal(got, want) {
			t.Errorf("%s: encoded\n%x\nwant\n%x", c.name, got, want)
		}
		// Decoder: the documented fields.
		if h.Version != c.version || h.RequestID != c.id {
			t.Errorf("%s: header version %d id %d", c.name, h.Version, h.RequestID)
		}
		got, err := decodeRequest(h, body)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		wantReq := c.req
		if c.name == "ops_v1" {
			wantReq.issuedNs = 0 // version 1 carries no issue time
		}
		if c.name == "ops" || c.name == "ops_v1" {
			if h.Count != 2 {
				t.Errorf("%s: count %d", c.name, h.Count)
			}
		}
		if !reflect.DeepEqual(*got, wantReq) {
			t.Errorf("%s: decoded %+v\nwant %+v", c.name, *got, wantReq)
		}
	}
	// The op fields spelled out, as the example lists them.
	h, body := split(t, "ops", ex["ops"])
	r, _ := decodeRequest(h, body)
	if o := r.ops[0]; o.ID != 20481 || o.Account != 2001 || o.Other != 2002 || o.Amount != 120 ||
		o.UserData != 43981 || o.Reason != 7 || o.Kind != OpTransfer || o.Flags != FlagLinked {
		t.Errorf("ops op[0] %+v", o)
	}
	if o := r.ops[1]; o.ID != 20482 || o.Account != 2003 || o.Amount != 1 || o.Kind != OpCredit || o.Flags != 0 {
		t.Errorf("ops op[1] %+v", o)
	}
}

func TestWorkedExamplesReplies(t *testing.T) {
	ex := loadExamples(t)
	cases := []struct {
		name    string
		id      uint64
		want    interface{}
		reenc   bool // the client's test server encodes this kind too
		kindOut uint16
	}{
		{"hello_ok", 1, ServerInfo{Version: 2, ShardCount: 4, MaxBodyBytes: 1048576,
			MaxOpsPerRequest: 8192, MaxRequestsInFlight: 128, MaxHistoryLimit: 1000}, true, 0x81},
		{"ops_reply", 2, []Result{{Code: OK, BalanceAfter: 380, Seq: 41}, {Code: OK, BalanceAfter: 1, Seq: 42}}, true, 0x82},
		{"ops_reply_refused", 3, []Result{{Code: InsufficientFunds, Flags: 1, BalanceAfter: 380, Seq: 43}}, true, 0x82},
		{"lookup_reply", 4, LookupReply{Seq: 43, Accounts: []Account{{ID: 2001, Balance: 380, Currency: 2, HistoryCount: 3}}}, false, 0x83},
		{"stages_reply", 7, []Stage{
			{Stage: 1, Count: 1, P50: 2150, P99: 2150, P999: 2150, MaxVal: 2150},
			{Stage: 6, Count: 1, P50: 812000, P99: 812000, P999: 812000, MaxVal: 812000}}, false, 0x88},
		{"error", 0, &ServerError{Code: ErrCodeBadMagic, Closing: true,
			Message: "bad magic 0x4f4c4c45, expected 0x52464f43"}, true, 0xff},
	}
	for _, c := range cases {
		frame := ex[c.name]
		h, body := split(t, c.name, frame)
		if h.RequestID != c.id || h.Kind != c.kindOut || h.Version != 2 {
			t.Errorf("%s: header %+v", c.name, h)
		}
		got, err := decodeReply(h, body)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: decoded %+v\nwant %+v", c.name, got, c.want)
		}
		if c.reenc {
			if again := encodeReply(2, c.id, c.want); !bytes.Equal(again, frame) {
				t.Errorf("%s: re-encoded\n%x\nwant\n%x", c.name, again, frame)
			}
		}
	}
	// The refused answer is a duplicate; the documented flags.
	h, body := split(t, "ops_reply_refused", ex["ops_reply_refused"])
	v, _ := decodeReply(h, body)
	if r := v.([]Result)[0]; !r.Duplicate() || r.OK() || r.Code.String() != "insufficient_funds" {
		t.Errorf("refused: %v", r)
	}
}

func TestDecodeRejectsBadLengths(t *testing.T) {
	ex := loadExamples(t)
	h, body := split(t, "ops_reply", ex["ops_reply"])
	h.Count = 3
	if _, err := decodeReply(h, body); err == nil || !isProtocol(err) {
		t.Errorf("count 3 for a body of 2 results: %v", err)
	}
	h, body = split(t, "error", ex["error"])
	if _, err := decodeReply(h, body[:len(body)-1]); err == nil || !isProtocol(err) {
		t.Errorf("short error message: %v", err)
	}
}

func TestCodeNames(t *testing.T) {
	if OpExpired.String() != "op_expired" || AccountExistsWithDifferentFlds.String() != "account_exists_with_different_fields" ||
		ResultCode(99).String() != "result_code_99" {
		t.Error("result code names")
	}
	if ErrCodeBackupFailed.String() != "backup_failed" || ErrCodeBusy.String() != "busy" {
		t.Error("error code names")
	}
	if EntryHoldExpired.String() != "hold_expired" || OpRelease.String() != "release" {
		t.Error("entry/op kind names")
	}
}

func TestOpIDs(t *testing.T) {
	g := &OpIDs{next: ^uint64(0) - 1} // wraps past 0
	seen := map[uint64]bool{}
	for i := 0; i < 4; i++ {
		id := g.Next()
		if id == 0 || seen[id] {
			t.Fatalf("op id %d (zero or repeated)", id)
		}
		seen[id] = true
	}
	a, b := NewOpIDs(), NewOpIDs()
	if a.Next() == b.Next() {
		t.Error("two generators started at the same id")
	}
}

func isProtocol(err error) bool { return errors.Is(err, ErrProtocol) }
