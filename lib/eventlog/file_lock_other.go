//go:build !unix

package eventlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
)

// lockDir creates path exclusively. Unlike flock, a crashed writer leaves
// it behind: delete the file (or the directory: make dev-clean) then.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		holder, _ := os.ReadFile(path)
		return nil, fmt.Errorf("%s (pid %s; delete it if that process is gone): %w", path, string(holder), ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("eventlog: %w", err)
	}
	_, _ = f.WriteString(strconv.Itoa(os.Getpid()))
	return f, nil
}

func unlockDir(f *os.File) error {
	name := f.Name()
	err := f.Close()
	return errors.Join(err, os.Remove(name))
}
