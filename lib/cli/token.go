package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/threefactor/framework/lib/identity/devissuer"
)

func init() {
	register(&command{
		name:     "token",
		args:     []string{"USER"},
		synopsis: "[--group GROUP]... [--claim NAME=VALUE]... [--ttl 12h] [--state-dir .dev]",
		summary:  "print a token the local dev runtime accepts, for USER, alone on stdout",
		help: `
The token is signed by the local OpenID Connect issuer kept in the state
directory, the one make dev verifies tokens with, whatever port it runs on
(its key is created on first use). Like a Cognito ID token it carries the
groups in cognito:groups and the app's attributes as custom claims:

  threefactor token alice
  threefactor token pat --group restaurant --claim custom:restaurantId=r-pizza
  threefactor token alice --ttl 30s     # to try expiry

Send it as "Authorization: Bearer <token>" over HTTP, and in the WebSocket's
connection_init payload as {"Authorization": "Bearer <token>"}.`,
		setup: func(fs *flag.FlagSet, _ Config) func(context.Context, *env, []string) error {
			var groups, claims stringList
			fs.Var(&groups, "group", "a `GROUP` the user is in, in cognito:groups (repeat it)")
			fs.Var(&claims, "claim", "a string claim, `NAME=VALUE` (repeat it)")
			ttl := fs.Duration("ttl", devissuer.DefaultTTL, "the token's lifetime")
			stateDir := fs.String("state-dir", ".dev", "the dev runtime's state directory, which holds the issuer")
			return func(_ context.Context, e *env, args []string) error {
				o := devissuer.Options{App: e.cfg.App.Name, Subject: args[0], Groups: groups, TTL: *ttl, Claims: map[string]any{}}
				for _, c := range claims {
					k, v, ok := strings.Cut(c, "=")
					if !ok || k == "" {
						return usagef("--claim %q: want NAME=VALUE", c)
					}
					o.Claims[k] = v
				}
				tok, err := devissuer.Mint(*stateDir, o)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(e.stdout, tok)
				return err
			}
		},
	})
}
