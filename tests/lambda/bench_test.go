package lambda

import (
	"context"
	"os"
	"testing"
	"time"

	fooddelivery "github.com/threefactor/framework/events"
	"github.com/threefactor/framework/lib/benchfig"
	"github.com/threefactor/framework/lib/lambdarun"
)

// BenchmarkBinarySize builds each of the app's functions as `make build`
// does, for Lambda (linux/arm64, stripped), and reports the size of each
// (lambda_binary_mb_<function>) and of the largest (lambda_binary_mb);
// the goal is 12 MB at most. The baseline is the smallest Go function,
// aws-lambda-go alone, built the same way (lambda_binary_mb_baseline).
func BenchmarkBinarySize(b *testing.B) {
	if testing.Short() {
		b.Skip("builds every function: not with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	pkgs := lambdarun.Packages(fooddelivery.App.FunctionNames())
	pkgs["baseline"] = "./tests/lambda/testdata/baseline"
	bins, err := lambdarun.Build(ctx, lambdarun.BuildConfig{Dir: root(), Out: b.TempDir(), Packages: pkgs, GOOS: "linux", GOARCH: "arm64"})
	if err != nil {
		b.Fatal(err)
	}
	sizes := map[string]float64{}
	for b.Loop() {
		for name, bin := range bins {
			fi, err := os.Stat(bin)
			if err != nil {
				b.Fatal(err)
			}
			sizes[name] = float64(fi.Size()) / (1 << 20)
		}
	}
	largest := 0.0
	for name, mb := range sizes {
		benchfig.Record("lambda_binary_mb_"+name, mb, "MB")
		if name != "baseline" {
			largest = max(largest, mb)
		}
	}
	benchfig.Record("lambda_binary_mb", largest, "MB")
	b.ReportMetric(largest, "MB")
}
