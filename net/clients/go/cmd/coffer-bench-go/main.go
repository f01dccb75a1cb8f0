// coffer-bench-go: a throughput driver for the Go client. C concurrent
// callers (default 64) share one Client; each call is one op, a debit of
// 1 with a fresh op id, against a durable cofferd at -addr, for -duration.
// Prints ops/s and the p50/p99 latency of a call.
//
//	coffer-bench-go -addr 127.0.0.1:7300 -duration 10s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	coffer "coffer.dev/client"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7300", "cofferd host:port")
	token := flag.String("token", "", "auth token")
	callers := flag.Int("callers", 64, "concurrent callers")
	duration := flag.Duration("duration", 10*time.Second, "how long to run")
	accounts := flag.Int("accounts", 64, "accounts debited (one per caller, round robin)")
	frames := flag.Int("frames", 0, "Options.MaxFramesInFlight (0: the server's max_requests_in_flight)")
	flag.Parse()

	ctx := context.Background()
	c, err := coffer.Dial(ctx, coffer.Options{Addr: *addr, Token: *token, MaxFramesInFlight: *frames})
	if err != nil {
		fmt.Fprintln(os.Stderr, "coffer-bench-go:", err)
		os.Exit(1)
	}
	defer c.Close()

	// Accounts with an overdraft large enough for the whole run, at an id
	// range chosen per run so that reruns on one server do not collide.
	base := uint64(time.Now().UnixNano()/1e6) << 16
	setup := make([]coffer.Op, 0, *accounts)
	for i := 0; i < *accounts; i++ {
		setup = append(setup, coffer.CreateAccount(coffer.NewOpID(), base+uint64(i), 1).WithOverdraft(1<<62))
	}
	rs, err := c.Apply(ctx, setup...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "coffer-bench-go: setup:", err)
		os.Exit(1)
	}
	for _, r := range rs {
		if !r.OK() {
			fmt.Fprintln(os.Stderr, "coffer-bench-go: setup:", r)
			os.Exit(1)
		}
	}

	var wg sync.WaitGroup
	lat := make([][]time.Duration, *callers)
	errs := make([]error, *callers)
	refused := make([]int, *callers)
	start := time.Now()
	end := start.Add(*duration)
	for w := 0; w < *callers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			acct := base + uint64(w%*accounts)
			for time.Now().Before(end) {
				t0 := time.Now()
				rs, err := c.Apply(ctx, coffer.Debit(coffer.NewOpID(), acct, 1))
				if err != nil {
					errs[w] = err
					return
				}
				if !rs[0].OK() {
					refused[w]++
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	nrefused := 0
	for w := range lat {
		all = append(all, lat[w]...)
		nrefused += refused[w]
		if errs[w] != nil {
			fmt.Fprintln(os.Stderr, "coffer-bench-go: caller", w, errs[w])
		}
	}
	if len(all) == 0 {
		fmt.Fprintln(os.Stderr, "coffer-bench-go: no op completed")
		os.Exit(1)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	q := func(p float64) time.Duration { return all[int(p*float64(len(all)-1))] }
	fmt.Printf("coffer-bench-go: %d callers, %d ops in %.2f s: %.0f ops/s, p50 %.3f ms, p99 %.3f ms (%d refused, %d frames for %d calls)\n",
		*callers, len(all), elapsed.Seconds(), float64(len(all))/elapsed.Seconds(),
		float64(q(0.50).Microseconds())/1000, float64(q(0.99).Microseconds())/1000,
		nrefused, c.FramesMade(), c.CallsFramed())
	for _, e := range errs {
		if e != nil {
			os.Exit(1)
		}
	}
}
