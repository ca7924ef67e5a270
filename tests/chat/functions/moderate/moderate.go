// Package moderate is the moderate function of app chat: its route,
// moderate, delivers it each INSERT of an item of the messages table with
// new.status = "PENDING".
//
// It masks the banned words of a new message and publishes it. A second
// run does nothing: the write is conditional on the message still being
// PENDING, so a redelivered change finds it published.
package moderate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/consumer"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/tests/chat/messages"
)

// Name is the function's name in the app declaration.
const Name = "moderate"

// EnvBannedWords lists the words to mask, separated by commas; unset, the
// function masks DefaultBannedWords.
const EnvBannedWords = "BANNED_WORDS"

// DefaultBannedWords are masked when EnvBannedWords is unset.
var DefaultBannedWords = []string{"darn", "heck", "frak"}

// Filter masks a list of words.
type Filter struct{ re *regexp.Regexp }

// NewFilter is a filter of words: whole words, in any case.
func NewFilter(words []string) (*Filter, error) {
	var alts []string
	for _, w := range words {
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		alts = append(alts, regexp.QuoteMeta(w))
	}
	if len(alts) == 0 {
		return nil, errors.New("no words to mask")
	}
	re, err := regexp.Compile(`(?i)\b(?:` + strings.Join(alts, "|") + `)\b`)
	if err != nil {
		return nil, err
	}
	return &Filter{re: re}, nil
}

// Mask replaces each banned word of text with as many asterisks, and
// reports whether it replaced any.
func (f *Filter) Mask(text string) (string, bool) {
	masked := false
	out := f.re.ReplaceAllStringFunc(text, func(w string) string {
		masked = true
		return strings.Repeat("*", utf8.RuneCountInString(w))
	})
	return out, masked
}

// Build builds the handler from the function's environment: the messages
// table and the banned words.
func Build(_ context.Context, env *app.Env) (consumer.Handler[messages.Message], error) {
	store, err := messages.StoreFromEnv(env)
	if err != nil {
		return nil, err
	}
	words := DefaultBannedWords
	if v := env.Getenv(EnvBannedWords); v != "" {
		words = strings.Split(v, ",")
	}
	filter, err := NewFilter(words)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvBannedWords, err)
	}
	return func(ctx context.Context, c change.Change[messages.Message]) error {
		m := c.NewItem
		if m == nil {
			// Too large to publish whole: read the message by its key.
			var k struct{ Room, ID string }
			if err := json.Unmarshal(c.Keys, &k); err != nil {
				return errs.Permanent(fmt.Errorf("keys %s: %w", c.Keys, err))
			}
			got, err := store.Get(ctx, k.Room, k.ID)
			if errors.Is(err, messages.ErrNotFound) {
				return nil // deleted since: nothing to publish
			}
			if err != nil {
				return err
			}
			m = &got
		}
		text, flagged := filter.Mask(m.Text)
		published, err := store.Publish(ctx, m.Room, m.ID, text, flagged)
		if err != nil {
			return err
		}
		log := env.Logger.With("eventId", c.ID, "room", m.Room, "messageId", m.ID)
		if !published {
			log.InfoContext(ctx, "message not pending (published already, or gone): nothing to do")
			return nil
		}
		log.InfoContext(ctx, "message published", "flagged", flagged)
		return nil
	}, nil
}
