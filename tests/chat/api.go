package chat

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"unicode/utf8"

	"github.com/graph-gophers/graphql-go"

	"github.com/threefactor/framework/lib/app"
	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/realtime"
	"github.com/threefactor/framework/lib/topology"
	"github.com/threefactor/framework/tests/chat/messages"
)

// SDL is the schema, schema.graphql.
//
//go:embed schema.graphql
var SDL string

// API is the chat API: the schema, the resolver built from a component's
// environment, and the topics subscriptions and changes meet on.
var API = app.GraphQL{
	SDL:      SDL,
	Resolver: Build,
	Topics:   realtime.Topics{Subscription: SubscriptionTopic, Change: ChangeTopics},
}

// Limits of what a client may send.
const (
	maxName = 64
	maxText = 2000
	// roomPage bounds the messages query.
	roomPage = 100
)

// Build is the root resolver over the messages table the environment names.
func Build(_ context.Context, env *app.Env) (any, error) {
	store, err := messages.StoreFromEnv(env)
	if err != nil {
		return nil, err
	}
	return &Resolver{store: store, log: env.Logger}, nil
}

// Resolver is the root resolver.
type Resolver struct {
	store *messages.Store
	log   *slog.Logger
}

// Messages lists a room's published messages.
func (r *Resolver) Messages(ctx context.Context, args struct{ Room graphql.ID }) ([]*MessageResolver, error) {
	if err := checkLen("room", string(args.Room), maxName); err != nil {
		return nil, err
	}
	ms, err := r.store.Room(ctx, string(args.Room), roomPage)
	if err != nil {
		r.log.ErrorContext(ctx, "list room", "error", err.Error())
		return nil, errs.Wrap(errs.InternalServerError, "could not list the room", err)
	}
	out := make([]*MessageResolver, len(ms))
	for i := range ms {
		out[i] = &MessageResolver{m: ms[i]}
	}
	return out, nil
}

// PostMessageInput is postMessage's input.
type PostMessageInput struct {
	Room   graphql.ID
	Author string
	Text   string
}

// PostMessage writes the message PENDING and returns it at once.
func (r *Resolver) PostMessage(ctx context.Context, args struct{ Input PostMessageInput }) (*MessageResolver, error) {
	in := args.Input
	if err := errors.Join(checkLen("room", string(in.Room), maxName), checkLen("author", in.Author, maxName), checkLen("text", in.Text, maxText)); err != nil {
		return nil, err
	}
	m, err := r.store.Post(ctx, string(in.Room), in.Author, in.Text)
	if err != nil {
		r.log.ErrorContext(ctx, "post message", "error", err.Error())
		return nil, errs.Wrap(errs.InternalServerError, "could not post the message", err)
	}
	r.log.InfoContext(ctx, "message posted", "room", m.Room, "messageId", m.ID)
	return &MessageResolver{m: m}, nil
}

// MessageAdded resolves messageAdded for one change, which the realtime
// fan-out puts in ctx: a message of the room becoming PUBLISHED yields it
// once; any other change yields nothing.
func (r *Resolver) MessageAdded(ctx context.Context, args struct{ Room graphql.ID }) (<-chan *MessageResolver, error) {
	ch := make(chan *MessageResolver, 1)
	defer close(ch)
	e, ok := realtime.ChangeFrom(ctx)
	if !ok || e.Table != messages.Table || e.Operation == topology.Remove {
		return ch, nil
	}
	c, err := change.Decode[messages.Message](e)
	if err != nil {
		r.log.WarnContext(ctx, "messageAdded: undecodable change", "eventId", e.ID, "error", err.Error())
		return ch, nil
	}
	if e.Reduced {
		// Too large to publish whole: read the message by its key.
		var k struct{ Room, ID string }
		if err := json.Unmarshal(e.Keys, &k); err != nil {
			return ch, nil
		}
		m, err := r.store.Get(ctx, k.Room, k.ID)
		if err != nil {
			return ch, nil
		}
		c.NewItem, c.OldItem = &m, nil
	}
	published := c.NewItem != nil && c.NewItem.Status == messages.Published
	wasPublished := c.OldItem != nil && c.OldItem.Status == messages.Published
	if published && !wasPublished && c.NewItem.Room == string(args.Room) {
		ch <- &MessageResolver{m: *c.NewItem}
	}
	return ch, nil
}

// SubscriptionTopic is the topic of messageAdded(room): "room:<room>".
func SubscriptionTopic(field string, args map[string]any) (string, error) {
	if field != "messageAdded" {
		return "", fmt.Errorf("no subscription field %q", field)
	}
	room, _ := args["room"].(string)
	if id, ok := args["room"].(graphql.ID); ok {
		room = string(id)
	}
	if err := checkLen("room", room, maxName); err != nil {
		return "", err
	}
	return RoomTopic(room), nil
}

// ChangeTopics are the topics of a change: a message's room.
func ChangeTopics(e change.Event) []string {
	if e.Table != messages.Table {
		return nil
	}
	var k struct{ Room string }
	if err := json.Unmarshal(e.Keys, &k); err != nil || k.Room == "" {
		return nil
	}
	return []string{RoomTopic(k.Room)}
}

// RoomTopic is the topic of a room's messages.
func RoomTopic(room string) string { return "room:" + room }

func checkLen(name, v string, max int) error {
	if n := utf8.RuneCountInString(v); n == 0 || n > max {
		return errs.Newf(errs.BadUserInput, "%s must be 1 to %d characters", name, max)
	}
	return nil
}

// MessageResolver resolves a Message.
type MessageResolver struct{ m messages.Message }

func (m *MessageResolver) Room() graphql.ID { return graphql.ID(m.m.Room) }
func (m *MessageResolver) ID() graphql.ID   { return graphql.ID(m.m.ID) }
func (m *MessageResolver) Author() string   { return m.m.Author }
func (m *MessageResolver) Text() string     { return m.m.Text }
func (m *MessageResolver) Status() string   { return string(m.m.Status) }
func (m *MessageResolver) Flagged() bool    { return m.m.Flagged }
func (m *MessageResolver) SentAt() string   { return m.m.SentAt }
