package identity_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/identity"
)

func TestMain(m *testing.M) { os.Exit(benchfig.Main(m)) }

// BenchmarkVerify measures one verification on the WebSocket path: the
// token read from a connection_init payload and verified. Its baseline,
// in the same run, is the same work without the cache of verified tokens
// (parse and RS256 signature check every time): what a connection_init
// with a token not seen before costs.
func BenchmarkVerify(b *testing.B) {
	k := newRSA(b, "rsa-1")
	srv := newJWKS(b, k)
	clk := &clock{now: t0}
	payload, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + k.sign(b, claims(nil))})
	v := newVerifier(b, srv, clk)
	ctx := context.Background()
	// run measures one verification; the last call, with the final b.N,
	// sets *us.
	run := func(verify func(context.Context, string) (identity.Identity, error), us *float64) func(*testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tok, err := identity.TokenFromInit(payload)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
			*us = float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(time.Microsecond)
		}
	}
	// Interleaved rounds, each side's best kept, so that a noisy
	// neighbour on a shared machine skews neither side alone.
	best := func(cur, v float64) float64 {
		if cur == 0 || v < cur {
			return v
		}
		return cur
	}
	var cached, uncached float64
	for range 3 {
		var c, u float64
		b.Run("uncached", run(v.VerifyUncached, &u))
		b.Run("cached", run(v.Verify, &c))
		uncached, cached = best(uncached, u), best(cached, c)
	}
	benchfig.Record("jwt_verify_uncached_us", uncached, "us")
	benchfig.Record("jwt_verify_us", cached, "us")
}
