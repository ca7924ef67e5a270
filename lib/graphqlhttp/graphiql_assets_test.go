package graphqlhttp

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nodeModules is where make deps installs the page's npm packages.
const nodeModules = "graphiql/node_modules"

// The pins, the lock file and the installed files agree: the CDN URLs
// the Lambda's page loads are the versions the dev runtime serves, and
// their integrity is that of the files npm installs.
func TestGraphiQLAssetsArePinned(t *testing.T) {
	b, err := os.ReadFile("graphiql/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	b, err = os.ReadFile("graphiql/package.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	for _, a := range graphiqlAssets {
		if got := lock.Packages["node_modules/"+a.pkg].Version; got != a.version {
			t.Errorf("%s is pinned at %s; package-lock.json has %q", a.pkg, a.version, got)
		}
		if got := pkg.Dependencies[a.pkg]; got != a.version {
			t.Errorf("%s is pinned at %s; package.json asks for %q (pin exact versions)", a.pkg, a.version, got)
		}
	}
	if _, err := os.Stat(nodeModules); errors.Is(err, os.ErrNotExist) {
		if testing.Short() {
			t.Skip("the integrity of the installed files needs make deps (npm ci in lib/graphqlhttp/graphiql)")
		}
		t.Fatalf("%s is missing: run make deps", nodeModules)
	}
	h, err := GraphiQLAssets(nodeModules)
	if err != nil {
		t.Fatal(err) // a file differs from its pin
	}
	srv := httptest.NewServer(http.StripPrefix("/assets", h))
	defer srv.Close()
	for _, a := range graphiqlAssets {
		resp, err := http.Get(srv.URL + "/assets/" + a.path())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantType := "text/javascript"
		if a.style {
			wantType = "text/css"
		}
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), wantType) || integrity(body) != a.integrity ||
			!strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("GET %s: %s %v, integrity %s", a.path(), resp.Status, resp.Header, integrity(body))
		}
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/assets/"+a.path(), nil)
		req.Header.Set("If-None-Match", resp.Header.Get("Etag"))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %s, want 304", a.path(), resp.Status)
		}
	}
	// Nothing else is served: not the package's other files, not a path
	// out of it.
	for _, p := range []string{"/assets/graphiql@4.1.2/package.json", "/assets/react@18.3.1/../graphiql@4.1.2/graphiql.min.js", "/assets/", "/assets/react@18.3.2/umd/react.production.min.js"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", p, resp.Status)
		}
	}
}

// Files missing or not the pinned ones: the handler refuses to start and
// says what to run.
func TestGraphiQLAssetsRefused(t *testing.T) {
	_, err := GraphiQLAssets(t.TempDir())
	if !errors.Is(err, ErrGraphiQLAssetsMissing) || !strings.Contains(err.Error(), "make deps") {
		t.Fatalf("empty dir: %v", err)
	}
	dir := t.TempDir()
	for _, a := range graphiqlAssets {
		p := filepath.Join(dir, a.pkg, filepath.FromSlash(a.file))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("not "+a.pkg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err = GraphiQLAssets(dir)
	if err == nil || errors.Is(err, ErrGraphiQLAssetsMissing) || !strings.Contains(err.Error(), "integrity") {
		t.Fatalf("other files: %v, want an integrity error", err)
	}
}
