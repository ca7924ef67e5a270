package devapp

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/threefactor/framework/lib/graphqlhttp"
	"github.com/threefactor/framework/lib/identity/devissuer"
)

// demoTokenTTL is how long the token a GraphiQL page load starts with
// lasts: a working day of one open tab. A reload mints a new one.
const demoTokenTTL = 12 * time.Hour

// demoHeaders are the headers each GraphiQL page load starts with: a
// fresh token of user from the local issuer.
func demoHeaders(iss *devissuer.Issuer, appName, user string) func(context.Context) (map[string]string, error) {
	return func(context.Context) (map[string]string, error) {
		tok, err := iss.Mint(devissuer.Options{App: appName, Subject: user, TTL: demoTokenTTL})
		if err != nil {
			return nil, err
		}
		return map[string]string{"Authorization": "Bearer " + tok}, nil
	}
}

// graphiqlAssets serves the page's files from dir.
func graphiqlAssets(dir string) (http.Handler, error) {
	if dir == "" {
		return nil, graphqlhttp.ErrGraphiQLAssetsMissing
	}
	return graphqlhttp.GraphiQLAssets(dir)
}

// missingGraphiQL answers /graphiql when the page's files are not
// installed: what to run, rather than a page that never loads.
func missingGraphiQL(err error) http.Handler {
	page := `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>GraphiQL is not installed</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>GraphiQL is not installed</h1>
<p>` + html.EscapeString(err.Error()) + `</p>
<p>Run <code>make deps</code> (it runs <code>npm ci</code> in <code>lib/graphqlhttp/graphiql</code>, once, with the network) and restart <code>make dev</code>. The API at <code>/graphql</code> works meanwhile.</p>
</body></html>`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		if r.Method != http.MethodHead {
			fmt.Fprint(w, page)
		}
	})
}

// FindGraphiQLAssets is the directory of GraphiQL's npm packages: found
// from the working directory up (make dev runs at the module root), else
// next to the source this program was built from. "" when neither has
// them installed.
func FindGraphiQLAssets() string {
	rel := filepath.FromSlash(graphqlhttp.GraphiQLNodeModules)
	if dir, err := os.Getwd(); err == nil {
		for {
			if isDir(filepath.Join(dir, rel)) {
				return filepath.Join(dir, rel)
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	// This file is lib/devapp/graphiql.go of the module.
	if _, file, _, ok := runtime.Caller(0); ok {
		if d := filepath.Join(filepath.Dir(file), "..", "..", rel); isDir(d) {
			return filepath.Clean(d)
		}
	}
	return ""
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
