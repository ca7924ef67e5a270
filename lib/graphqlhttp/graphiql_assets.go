package graphqlhttp

import (
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// graphiqlAsset is one file the GraphiQL page loads: a file of an npm
// package at a pinned version, with its subresource integrity. The
// versions are those of lib/graphqlhttp/graphiql/package-lock.json, and
// the hashes those of the files npm installs there; a test holds the
// three to one another.
type graphiqlAsset struct {
	pkg, version, file string
	// integrity is the file's SRI hash (sha384).
	integrity string
	style     bool
}

// graphiqlAssets in the order the page loads them: React before the
// GraphiQL bundle (a UMD build that takes React and ReactDOM from the
// page, and brings everything else, graphql included).
var graphiqlAssets = []graphiqlAsset{
	{pkg: "graphiql", version: "4.1.2", file: "graphiql.min.css", integrity: "sha384-1el1QShFBnnXTx9x/Cprg82hZWKt0ry29OAYIXt05swbi0KcZDFoj0CWguMpopJr", style: true},
	{pkg: "react", version: "18.3.1", file: "umd/react.production.min.js", integrity: "sha384-DGyLxAyjq0f9SPpVevD6IgztCFlnMF6oW/XQGmfe+IsZ8TqEiDrcHkMLKI6fiB/Z"},
	{pkg: "react-dom", version: "18.3.1", file: "umd/react-dom.production.min.js", integrity: "sha384-gTGxhz21lVGYNMcdJOyq01Edg0jhn/c22nsx0kyqP0TxaV5WVdsSH1fSDUf5YJj1"},
	{pkg: "graphql-ws", version: "6.4.2", file: "umd/graphql-ws.min.js", integrity: "sha384-mxvR4Mzbsb6QVx/9xI2gtQikQA6m8zMDBFnu3l//4/ROsWt7y2sUGWd+/tYQqDm7"},
	{pkg: "graphiql", version: "4.1.2", file: "graphiql.min.js", integrity: "sha384-9XdHu7ajgGJziD4J1zNBKQ842Q/+zZfDv+ib1eMhZWBH6hPAs806x+Jbcf0yNO6B"},
}

// GraphiQLCDN is where the page loads its files from when
// GraphiQLConfig.Assets is empty: jsDelivr's npm mirror, which serves a
// package's files as published, so their integrity is that of the files
// npm installs.
const GraphiQLCDN = "https://cdn.jsdelivr.net/npm/"

// path is where the asset is under a base: <pkg>@<version>/<file>. The
// version in the path lets a browser cache it for good.
func (a graphiqlAsset) path() string { return a.pkg + "@" + a.version + "/" + a.file }

// GraphiQLNodeModules is the directory, relative to the module root,
// where `make deps` installs the npm packages the page loads.
const GraphiQLNodeModules = "lib/graphqlhttp/graphiql/node_modules"

// ErrGraphiQLAssetsMissing says the npm packages of the page are not
// installed.
var ErrGraphiQLAssetsMissing = errors.New("GraphiQL's npm packages are not installed: run make deps (npm ci in lib/graphqlhttp/graphiql)")

// GraphiQLAssets serves the files the GraphiQL page loads, read from the
// npm packages installed in nodeModules (GraphiQLNodeModules), at
// <pkg>@<version>/<file> under the handler's root: mount it with
// http.StripPrefix at the path given as GraphiQLConfig.Assets. It serves
// those files only, from memory, and refuses to start when one is
// missing (ErrGraphiQLAssetsMissing) or is not the pinned version's (its
// integrity differs): then the package-lock and the pins disagree.
func GraphiQLAssets(nodeModules string) (http.Handler, error) {
	files := make(map[string]graphiqlFile, len(graphiqlAssets))
	for _, a := range graphiqlAssets {
		b, err := os.ReadFile(filepath.Join(nodeModules, a.pkg, filepath.FromSlash(a.file)))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w (%s has no %s/%s)", ErrGraphiQLAssetsMissing, nodeModules, a.pkg, a.file)
		}
		if err != nil {
			return nil, fmt.Errorf("graphiql assets: %w", err)
		}
		if got := integrity(b); got != a.integrity {
			return nil, fmt.Errorf("graphiql assets: %s/%s in %s is not %s@%s's (integrity %s, want %s): run make deps",
				a.pkg, a.file, nodeModules, a.pkg, a.version, got, a.integrity)
		}
		ctype := "text/javascript; charset=utf-8"
		if a.style {
			ctype = "text/css; charset=utf-8"
		}
		files["/"+a.path()] = graphiqlFile{body: b, ctype: ctype, etag: strconv.Quote(a.integrity)}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		hdr := w.Header()
		hdr["Content-Type"] = []string{f.ctype}
		hdr["Cache-Control"] = []string{"public, max-age=31536000, immutable"}
		hdr["X-Content-Type-Options"] = hdrNoSniff
		hdr["Etag"] = []string{f.etag}
		if strings.Contains(r.Header.Get("If-None-Match"), f.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		hdr["Content-Length"] = []string{strconv.Itoa(len(f.body))}
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = bytes.NewReader(f.body).WriteTo(w)
		}
	}), nil
}

type graphiqlFile struct {
	body        []byte
	ctype, etag string
}

// integrity is b's subresource integrity value, sha384.
func integrity(b []byte) string {
	sum := sha512.Sum384(b)
	return "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
}
