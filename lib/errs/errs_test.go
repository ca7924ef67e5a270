package errs_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/threefactor/framework/lib/errs"
)

func TestCodesMessagesAndPermanence(t *testing.T) {
	cause := errors.New("dynamodb: throttled at 10.0.0.1")
	for _, tc := range []struct {
		name      string
		err       error
		code      errs.Code
		message   string
		permanent bool
	}{
		{"client error", errs.New(errs.InvalidArgument, "items must not be empty"), errs.InvalidArgument, "items must not be empty", true},
		{"not found", errs.Newf(errs.NotFound, "restaurant %q not found", "r9"), errs.NotFound, `restaurant "r9" not found`, true},
		{"transient", errs.Wrap(errs.Unavailable, "try again", cause), errs.Unavailable, "try again", false},
		{"wrapped twice", fmt.Errorf("pay order o1: %w", errs.New(errs.FailedPrecondition, "order is not VALIDATED")), errs.FailedPrecondition, "order is not VALIDATED", true},
		{"plain error", cause, errs.Internal, "internal error", false},
		{"marked permanent", errs.Permanent(cause), errs.FailedPrecondition, "permanent failure", true},
		{"nil stays nil", errs.Permanent(nil), errs.Internal, "internal error", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := errs.CodeOf(tc.err); got != tc.code {
				t.Errorf("code %s, want %s", got, tc.code)
			}
			if got := errs.MessageOf(tc.err); got != tc.message {
				t.Errorf("message %q, want %q", got, tc.message)
			}
			if got := errs.IsPermanent(tc.err); got != tc.permanent {
				t.Errorf("permanent %v, want %v", got, tc.permanent)
			}
		})
	}
}

func TestWrapKeepsCauseForErrorsIs(t *testing.T) {
	cause := errors.New("boom")
	err := fmt.Errorf("charge: %w", errs.Permanent(cause))
	if !errors.Is(err, cause) {
		t.Fatal("errors.Is lost the cause")
	}
}
