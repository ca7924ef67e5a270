package lambdarun

import (
	"net"
	"os"
	"testing"
)

// listens tells the process holding a listener from any other: Start
// relies on it to know the emulator, not another process, took its port.
func TestListens(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	owns, known := listens(os.Getpid(), l.Addr().String())
	if !known {
		t.Skip("/proc cannot tell on this system")
	}
	if !owns {
		t.Errorf("this process's listener on %s: not found as this process's", l.Addr())
	}
	if owns, _ := listens(os.Getppid(), l.Addr().String()); owns {
		t.Errorf("this process's listener counted as its parent's")
	}
	free, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	if owns, known := listens(os.Getpid(), free); owns || !known {
		t.Errorf("an address nobody listens on: owns %v, known %v", owns, known)
	}
}
