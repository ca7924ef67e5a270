package emulator

import (
	"context"
	"os/exec"
	"strconv"
)

// StartMoto starts moto_server as installed, without this package's
// differences: the baseline the emulator's benchmarks compare with.
func StartMoto(ctx context.Context) (*Server, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, ErrNotInstalled
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return launchCmd(ctx, exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port)), port, "", false)
}
