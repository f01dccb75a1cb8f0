// coffer-example-go: a short tour of the Go client against a running
// cofferd: accounts, a purchase as a linked chain, a retry answered as a
// duplicate, a refusal, a lookup and a history page.
//
//	coffer-example-go -addr 127.0.0.1:7300
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	coffer "coffer.dev/client"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7300", "cofferd host:port")
	token := flag.String("token", "", "auth token")
	flag.Parse()
	if err := run(*addr, *token); err != nil {
		fmt.Fprintln(os.Stderr, "coffer-example-go:", err)
		os.Exit(1)
	}
}

func run(addr, token string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := coffer.Dial(ctx, coffer.Options{Addr: addr, Token: token})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("connected: protocol version %d, %d shards\n", c.ServerInfo().Version, c.ServerInfo().ShardCount)

	const gems = 2
	base := uint64(time.Now().UnixNano()) &^ 0xffff
	player, shop, items := base+1, base+2, base+3
	rs, err := c.Apply(ctx,
		coffer.CreateAccount(coffer.NewOpID(), player, gems),
		coffer.CreateAccount(coffer.NewOpID(), shop, gems),
		coffer.CreateAccount(coffer.NewOpID(), items, gems),
		coffer.Credit(coffer.NewOpID(), player, 500).WithReason(1))
	if err != nil {
		return err
	}
	fmt.Println("setup:", rs)

	// A purchase: pay 120 and get one item token, all or nothing.
	purchase := []coffer.Op{
		coffer.Transfer(coffer.NewOpID(), player, shop, 120).WithReason(7).WithUserData(0xabcd).Linked(),
		coffer.Credit(coffer.NewOpID(), items, 1).WithReason(7),
	}
	rs, err = c.Apply(ctx, purchase...)
	if err != nil {
		return err
	}
	fmt.Println("purchase:", rs)
	// The same ops again (a retry after a lost reply): answered, not applied.
	rs, err = c.Apply(ctx, purchase...)
	if err != nil {
		return err
	}
	fmt.Println("retry:", rs, "duplicate:", rs[0].Duplicate())

	rs, err = c.Apply(ctx, coffer.Debit(coffer.NewOpID(), player, 1000))
	if err != nil {
		return err
	}
	fmt.Println("overspend:", rs[0].Code)

	l, err := c.Lookup(ctx, player, shop, items)
	if err != nil {
		return err
	}
	for _, a := range l.Accounts {
		fmt.Printf("account %d: balance %d, held %d, %d history entries\n", a.ID, a.Balance, a.Held, a.HistoryCount)
	}
	page, err := c.History(ctx, coffer.HistoryQuery{Account: player, Limit: 10})
	if err != nil {
		return err
	}
	for _, e := range page.Entries {
		fmt.Printf("  #%d seq %d %v %+d -> %d (reason %d)\n", e.Number, e.Seq, e.Kind, e.Amount, e.Balance, e.Reason)
	}
	return nil
}
