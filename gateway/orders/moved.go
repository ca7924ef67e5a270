package orders

import (
	"context"
	"errors"
	"log/slog"
)

// SkipMoved reports whether a workflow step's error means there is nothing
// left to do: the order is gone, or its conditional write lost because the
// order is no longer in the status the step expects (a redelivery, or a
// race with another delivery). It logs why; the step then acknowledges the
// event. Any other error is the caller's to return.
func SkipMoved(ctx context.Context, log *slog.Logger, step string, err error) bool {
	var ce *ConflictError
	switch {
	case errors.As(err, &ce):
		log.InfoContext(ctx, step+": order moved on; nothing to do", "status", string(ce.Current.Status))
	case errors.Is(err, ErrNotFound):
		log.WarnContext(ctx, step+": order does not exist; nothing to do")
	default:
		return false
	}
	return true
}
