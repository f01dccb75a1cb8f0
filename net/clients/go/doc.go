// Package coffer is a Go client of cofferd, the Coffer ledger server,
// speaking the binary protocol of net/PROTOCOL.md (versions 1 and 2).
//
//	c, err := coffer.Dial(ctx, coffer.Options{Addr: "127.0.0.1:7300"})
//	rs, err := c.Apply(ctx, coffer.Debit(coffer.NewOpID(), player, 50))
//	// rs[0].Code: coffer.OK, coffer.InsufficientFunds, ...; rs[0].Duplicate()
//
// One Client is safe for any number of goroutines: their calls are
// pipelined on one connection and concurrent Apply calls are coalesced
// into shared OPS frames. Every call takes a context (its deadline is the
// call's timeout). Each request frame is kept until answered and resent
// byte for byte after a reconnect (same op ids, same issue time), so the
// server's exactly-once answers a resent op that had applied as a
// duplicate instead of applying it twice.
package coffer
