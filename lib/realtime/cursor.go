package realtime

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
)

// A cursor is the position of a change in its topic's log, as a client
// holds it: opaque, URL-safe, and bound to its topic. Its bytes are a
// version, the position (big-endian) and a tag: the first 8 bytes of an
// HMAC-SHA256 over the version, the topic and the position. The tag makes
// a cursor of another topic, a mistyped or a truncated one read as
// unknown (RESYNC_REQUIRED) instead of as some other position. It is an
// integrity check, not a secret: a cursor a client makes up can only name
// a position of a topic it is subscribed to, and every change delivered
// from there is authorized for it as a live push is (the stored operation
// runs as the subscriber).
const cursorVersion = 1

// cursorKey keys the tag. It is the framework's, the same in every
// deployment, so that a cursor stays valid across deploys and processes.
var cursorKey = []byte("threefactor/realtime/cursor/v1")

const cursorLen = 1 + 8 + 8

// ErrResync is a cursor that cannot be resumed from; it carries
// errs.ResyncRequired and the message clients see.
var ErrResync = errs.New(errs.ResyncRequired,
	"cannot resume from this cursor (unknown, of another subscription, or older than the event log keeps): query the current state and subscribe again without after")

// EncodeCursor is the cursor of position p of topic.
func EncodeCursor(topic string, p eventlog.Position) string {
	b := make([]byte, 0, cursorLen)
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(p))
	b = append(b, cursorTag(topic, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor is the position a cursor of topic names. A cursor that is
// malformed, of another version or of another topic is ErrResync.
func DecodeCursor(topic, cursor string) (eventlog.Position, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	switch {
	case err != nil:
		return 0, fmt.Errorf("cursor %.40q: not base64url: %w", cursor, ErrResync)
	case len(b) != cursorLen || b[0] != cursorVersion:
		return 0, fmt.Errorf("cursor %.40q: not a cursor of this version: %w", cursor, ErrResync)
	case !hmac.Equal(b[9:], cursorTag(topic, b[:9])):
		return 0, fmt.Errorf("cursor %.40q: not a cursor of topic %s: %w", cursor, topic, ErrResync)
	}
	p := eventlog.Position(binary.BigEndian.Uint64(b[1:9]))
	if p == 0 {
		return 0, fmt.Errorf("cursor %.40q: position 0: %w", cursor, ErrResync)
	}
	return p, nil
}

func cursorTag(topic string, head []byte) []byte {
	m := hmac.New(sha256.New, cursorKey)
	m.Write(head)
	m.Write([]byte(topic))
	return m.Sum(nil)[:8]
}

// WithCursor is a next message's payload (a GraphQL response object)
// carrying cursor in extensions.cursor. A payload that is not an object
// is returned as it is.
func WithCursor(payload []byte, cursor string) []byte {
	p := bytes.TrimSpace(payload)
	if cursor == "" || len(p) < 2 || p[0] != '{' || p[len(p)-1] != '}' {
		return payload
	}
	out := make([]byte, 0, len(p)+len(cursor)+32)
	out = append(out, p[:len(p)-1]...)
	if len(bytes.TrimSpace(p[1:len(p)-1])) > 0 {
		out = append(out, ',')
	}
	out = append(out, `"extensions":{"cursor":"`...)
	out = append(out, cursor...) // base64url: nothing to escape
	out = append(out, `"}}`...)
	return out
}

// IsResync reports whether err means the client must re-query.
func IsResync(err error) bool {
	return errors.Is(err, ErrResync) || errors.Is(err, eventlog.ErrExpired)
}
