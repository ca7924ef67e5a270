package devruntime

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// wakeup tells the shard workers of one stream reader that their table
// was written to. A worker takes the channel before it polls and, when
// the poll found nothing, sleeps until the poll interval ends or the
// channel closes. Taking the channel before the poll means a write that
// lands after the poll's read still wakes the sleep that follows it.
// Wakes coalesce: every write made while a worker polls or sleeps closes
// the same channel, once, so a burst of writes costs each worker one
// extra poll, not one per write.
type wakeup struct {
	mu sync.Mutex
	ch chan struct{}
}

// channel is closed by the next wake.
func (w *wakeup) channel() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

// wake releases whoever took the current channel; with nobody waiting
// (every worker is delivering, and polls again anyway) it does nothing.
func (w *wakeup) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

// sleepOrWake waits d, or until woken and then delay more (at most until
// d ends), or until ctx is done; it reports whether ctx is still live.
func sleepOrWake(ctx context.Context, d, delay time.Duration, woken <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-woken:
		if delay <= 0 {
			return true
		}
		wait := time.NewTimer(delay)
		defer wait.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-wait.C:
		case <-t.C:
		}
		return true
	case <-t.C:
		return true
	}
}

// wakeOnWrite is the middleware the runtime adds to its AWS config: after
// a DynamoDB write through it succeeds, the stream readers of the tables
// written wake at once instead of at their next poll. Writes from other
// processes (the CLI, functions run as binaries) still arrive by polling.
func (r *Runtime) wakeOnWrite(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("devruntime.WakeStreamReaders",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			if err == nil {
				if tables, all := writtenTables(in.Parameters); all {
					r.wakeReaders(nil)
				} else if len(tables) > 0 {
					r.wakeReaders(tables)
				}
			}
			return out, md, err
		}), middleware.After)
}

// writtenTables are the tables (names or ARNs) a DynamoDB operation's
// input writes to. all is true for a PartiQL statement that may write:
// its table is inside the statement, so every reader is woken (cheap:
// wakes coalesce).
func writtenTables(params any) (tables []string, all bool) {
	switch in := params.(type) {
	case *dynamodb.PutItemInput:
		return []string{aws.ToString(in.TableName)}, false
	case *dynamodb.UpdateItemInput:
		return []string{aws.ToString(in.TableName)}, false
	case *dynamodb.DeleteItemInput:
		return []string{aws.ToString(in.TableName)}, false
	case *dynamodb.BatchWriteItemInput:
		for t := range in.RequestItems {
			tables = append(tables, t)
		}
		return tables, false
	case *dynamodb.TransactWriteItemsInput:
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				tables = append(tables, aws.ToString(it.Put.TableName))
			case it.Update != nil:
				tables = append(tables, aws.ToString(it.Update.TableName))
			case it.Delete != nil:
				tables = append(tables, aws.ToString(it.Delete.TableName))
			}
		}
		return tables, false
	case *dynamodb.ExecuteStatementInput:
		return nil, partiQLWrites(aws.ToString(in.Statement))
	case *dynamodb.BatchExecuteStatementInput:
		for _, s := range in.Statements {
			if partiQLWrites(aws.ToString(s.Statement)) {
				return nil, true
			}
		}
	case *dynamodb.ExecuteTransactionInput:
		for _, s := range in.TransactStatements {
			if partiQLWrites(aws.ToString(s.Statement)) {
				return nil, true
			}
		}
	}
	return nil, false
}

func partiQLWrites(stmt string) bool {
	verb, _, _ := strings.Cut(strings.TrimSpace(stmt), " ")
	return !strings.EqualFold(verb, "SELECT")
}

// wakeReaders wakes the readers of the tables named (physical names or
// table ARNs); nil wakes every reader.
func (r *Runtime) wakeReaders(tables []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.res == nil {
		return
	}
	for _, sr := range r.readers {
		name := r.res.Tables[sr.table].Name
		if tables == nil {
			sr.wake.wake()
			continue
		}
		for _, t := range tables {
			// A table may be named by its ARN: arn:aws:dynamodb:...:table/NAME.
			if i := strings.LastIndex(t, ":table/"); i >= 0 {
				t = t[i+len(":table/"):]
			}
			if t == name {
				sr.wake.wake()
				break
			}
		}
	}
}
