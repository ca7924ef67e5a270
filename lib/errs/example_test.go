package errs_test

import (
	"errors"
	"fmt"

	"github.com/threefactor/framework/lib/errs"
)

func Example() {
	err := fmt.Errorf("pay order o1: %w", errs.New(errs.FailedPrecondition, "order o1 is PLACED, not VALIDATED"))
	fmt.Println(errs.CodeOf(err), errs.IsPermanent(err))
	fmt.Println(errs.MessageOf(err))

	// Internal detail never reaches a client.
	leak := errors.New("dial tcp 10.1.2.3:443: timeout")
	fmt.Println(errs.CodeOf(leak), errs.MessageOf(leak))
	// Output:
	// FAILED_PRECONDITION true
	// order o1 is PLACED, not VALIDATED
	// INTERNAL_SERVER_ERROR internal error
}
