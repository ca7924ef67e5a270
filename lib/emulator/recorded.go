package emulator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNotRunning says no local emulator recorded in the state directory
// answers: `make dev` starts one.
var ErrNotRunning = errors.New("no local emulator is running")

// Recorded is the endpoint of the long-lived local emulator recorded in
// stateDir (by Ensure, as `make dev` runs it), found the way StopRecorded
// finds it, when it answers; it never starts one. Without one the error
// wraps ErrNotRunning and says how to start it.
func Recorded(ctx context.Context, stateDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, "moto.endpoint"))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w (none is recorded in %s): start make dev, or set AWS_ENDPOINT_URL", ErrNotRunning, stateDir)
	}
	if err != nil {
		return "", err
	}
	ep := strings.TrimSpace(string(b))
	if !Alive(ctx, &http.Client{Timeout: 2 * time.Second}, ep) {
		return "", fmt.Errorf("%w (the one recorded in %s, at %s, does not answer): start make dev, or set AWS_ENDPOINT_URL", ErrNotRunning, stateDir, ep)
	}
	return ep, nil
}
