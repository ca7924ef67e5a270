//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package cli

import "os"

// isTerminal is false where it cannot be told: a confirmation then needs
// its flag (--yes).
func isTerminal(*os.File) bool { return false }
