package dlq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/threefactor/framework/lib/errs"
	"github.com/threefactor/framework/lib/eventlog"
	"github.com/threefactor/framework/lib/provision"
	"github.com/threefactor/framework/lib/topology"
)

// sqsAPI is the part of *sqs.Client the package uses.
type sqsAPI interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	StartMessageMoveTask(ctx context.Context, in *sqs.StartMessageMoveTaskInput, opts ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error)
	ListMessageMoveTasks(ctx context.Context, in *sqs.ListMessageMoveTasksInput, opts ...func(*sqs.Options)) (*sqs.ListMessageMoveTasksOutput, error)
}

// eventLog is the part of the event log a listing reads: an event's
// deliveries, for the reason of a message the redrive policy moved.
type eventLog interface {
	Event(ctx context.Context, id string) (eventlog.EventRecord, error)
}

// QueueURLs locate a route's queue and its dead-letter queue.
type QueueURLs struct {
	Queue string `json:"queue"`
	DLQ   string `json:"dlq"`
}

// MoveTasks says whether Redrive of every message may use SQS's
// StartMessageMoveTask.
type MoveTasks int

const (
	// MoveTasksAuto uses a move task where the endpoint has them and
	// falls back to receive, send, delete where it does not (the first
	// refusal is remembered).
	MoveTasksAuto MoveTasks = iota
	// MoveTasksNever always receives, sends and deletes.
	MoveTasksNever
)

// Config configures a Client.
type Config struct {
	// SQS reaches the queues. Required.
	SQS sqsAPI
	// Topology is the app's declaration: its routes, their functions and
	// their max receive counts, and the tables' key schemas for item keys.
	Topology topology.Topology
	// Queues locate each route's queues, by route name: LocalQueues (the
	// dev runtime's names), FromResources (what the dev runtime
	// provisioned) or a deployed stack's outputs. Every route of the
	// topology needs its entry.
	Queues map[string]QueueURLs
	// Log, when set, gives the reason of a message the queue's redrive
	// policy moved: its event's last failed delivery.
	Log eventLog
	// Hold is how long a message received to be listed, redriven or
	// dropped stays invisible to others if this process dies before it
	// is done with it. Default 30s.
	Hold time.Duration
	// MoveTasks: see MoveTasks. Default MoveTasksAuto.
	MoveTasks MoveTasks
	// MoveTaskPoll is how often a running move task is looked at. Default 1s.
	MoveTaskPoll time.Duration
	// Logger receives a line per redrive and drop. Default slog.Default().
	Logger *slog.Logger
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var list []error
	if c.SQS == nil {
		list = append(list, errors.New("dlq: no SQS client"))
	}
	if c.Hold < 0 || c.Hold > 12*time.Hour {
		list = append(list, fmt.Errorf("dlq: hold %s: want 0 (30s) up to 12h", c.Hold))
	}
	for _, r := range c.Topology.RoutesWithDefaults() {
		q, ok := c.Queues[r.Name]
		switch {
		case !ok:
			list = append(list, fmt.Errorf("dlq: route %s: no queue URLs", r.Name))
		case q.Queue == "" || q.DLQ == "":
			list = append(list, fmt.Errorf("dlq: route %s: want both the queue's and the dead-letter queue's URL", r.Name))
		}
	}
	for name := range c.Queues {
		if _, ok := c.Topology.Route(name); !ok {
			list = append(list, fmt.Errorf("dlq: queue URLs for %q, which is not a route of the topology", name))
		}
	}
	return errors.Join(list...)
}

// Route is a route as the package sees it.
type Route struct {
	Name     string `json:"name"`
	Function string `json:"function"`
	// MaxReceiveCount is how many receives the route's queue allows
	// before its redrive policy moves a message to the dead-letter queue.
	MaxReceiveCount int       `json:"maxReceiveCount"`
	Queues          QueueURLs `json:"queues"`
}

// Client works on the dead-letter queues of an app's routes.
type Client struct {
	cfg    Config
	routes []Route
	byName map[string]*Route
	log    *slog.Logger

	mu   sync.Mutex
	arns map[string]string // queue URL -> ARN

	// moveOff: the endpoint refused a move task as unknown.
	moveOff atomic.Bool
	moveMu  sync.Mutex
}

// New checks cfg and builds a Client. Nothing is contacted.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Hold == 0 {
		cfg.Hold = 30 * time.Second
	}
	if cfg.MoveTaskPoll <= 0 {
		cfg.MoveTaskPoll = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Client{cfg: cfg, byName: map[string]*Route{}, arns: map[string]string{}, log: cfg.Logger.With("component", "dlq")}
	for _, r := range cfg.Topology.RoutesWithDefaults() {
		c.routes = append(c.routes, Route{Name: r.Name, Function: r.Function, MaxReceiveCount: r.MaxReceiveCount, Queues: cfg.Queues[r.Name]})
	}
	for i := range c.routes {
		c.byName[c.routes[i].Name] = &c.routes[i]
	}
	return c, nil
}

// LocalQueues finds the queues the dev runtime provisions (named by
// topology.QueueName and topology.DLQName) on the endpoint api reaches.
// A missing queue is an errs.NotFound error that says to run make dev.
func LocalQueues(ctx context.Context, api sqsAPI, topo topology.Topology) (map[string]QueueURLs, error) {
	out := map[string]QueueURLs{}
	url := func(name string) (string, error) {
		o, err := api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
		var nf *sqstypes.QueueDoesNotExist
		if errors.As(err, &nf) {
			return "", errs.Newf(errs.NotFound, "queue %s does not exist on this endpoint: make dev provisions it", name)
		}
		if err != nil {
			return "", fmt.Errorf("find queue %s: %w", name, err)
		}
		return aws.ToString(o.QueueUrl), nil
	}
	for _, r := range topo.RoutesWithDefaults() {
		q, err := url(topo.QueueName(r.Name))
		if err != nil {
			return nil, err
		}
		d, err := url(topo.DLQName(r.Name))
		if err != nil {
			return nil, err
		}
		out[r.Name] = QueueURLs{Queue: q, DLQ: d}
	}
	return out, nil
}

// FromResources are the queues the dev runtime provisioned.
func FromResources(res *provision.Resources) map[string]QueueURLs {
	out := map[string]QueueURLs{}
	for name, r := range res.Routes {
		out[name] = QueueURLs{Queue: r.QueueURL, DLQ: r.DLQURL}
	}
	return out
}

// Routes are the topology's routes (RoutesWithDefaults: the app's, then
// any the framework adds), in its order.
func (c *Client) Routes() []Route { return append([]Route(nil), c.routes...) }

// ErrNoRoute: the route named is not one of the app's.
var ErrNoRoute = errs.New(errs.NotFound, "dlq: no such route")

func (c *Client) route(name string) (*Route, error) {
	r, ok := c.byName[name]
	if !ok {
		names := make([]string, len(c.routes))
		for i, r := range c.routes {
			names[i] = r.Name
		}
		return nil, fmt.Errorf("%w %q (the routes: %v)", ErrNoRoute, name, names)
	}
	return r, nil
}

// Depth is how many messages a route's dead-letter queue holds, as SQS
// counts them (approximately, on AWS).
type Depth struct {
	Route string `json:"route"`
	// Visible messages can be listed, redriven or dropped.
	Visible int `json:"visible"`
	// InFlight messages are held by a receiver (a listing, a redrive in
	// progress) and come back when it lets go.
	InFlight int `json:"inFlight"`
}

// Depths counts the messages of every route's dead-letter queue.
func (c *Client) Depths(ctx context.Context) ([]Depth, error) {
	out := make([]Depth, 0, len(c.routes))
	for _, r := range c.routes {
		d, err := c.depth(ctx, &r)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// Depth counts the messages of one route's dead-letter queue.
func (c *Client) Depth(ctx context.Context, route string) (Depth, error) {
	r, err := c.route(route)
	if err != nil {
		return Depth{}, err
	}
	return c.depth(ctx, r)
}

func (c *Client) depth(ctx context.Context, r *Route) (Depth, error) {
	out, err := c.cfg.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(r.Queues.DLQ),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return Depth{}, fmt.Errorf("count the dead letters of %s: %w", r.Name, err)
	}
	vis, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	inf, _ := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return Depth{Route: r.Name, Visible: vis, InFlight: inf}, nil
}

// arn is a queue's ARN, looked up once.
func (c *Client) arn(ctx context.Context, url string) (string, error) {
	c.mu.Lock()
	a, ok := c.arns[url]
	c.mu.Unlock()
	if ok {
		return a, nil
	}
	out, err := c.cfg.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("queue %s: %w", url, err)
	}
	a = out.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	if a == "" {
		return "", fmt.Errorf("queue %s: no ARN", url)
	}
	c.mu.Lock()
	c.arns[url] = a
	c.mu.Unlock()
	return a, nil
}
