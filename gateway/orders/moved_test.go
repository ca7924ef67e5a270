package orders_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/threefactor/framework/gateway/orders"
)

func TestSkipMoved(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		skip bool
		log  string
	}{
		{"conflict", fmt.Errorf("approve: %w", &orders.ConflictError{Op: "approve", Current: orders.Order{ID: "o1", Status: orders.Approved}}), true, `"status":"APPROVED"`},
		{"gone", fmt.Errorf("read: %w", orders.ErrNotFound), true, "does not exist"},
		{"store failure", errors.New("throttled"), false, ""},
		{"no error", nil, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, nil))
			if got := orders.SkipMoved(context.Background(), log, "approve", tc.err); got != tc.skip {
				t.Fatalf("SkipMoved = %v, want %v", got, tc.skip)
			}
			if tc.log == "" && buf.Len() > 0 || !strings.Contains(buf.String(), tc.log) {
				t.Fatalf("log %q, want it to mention %q", buf.String(), tc.log)
			}
		})
	}
}
