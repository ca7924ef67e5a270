package eventlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/threefactor/framework/lib/change"
	"github.com/threefactor/framework/lib/topology"
)

// FileConfig configures a FileStore. The zero value of each optional
// setting is its default.
type FileConfig struct {
	// Topology gives the key schema of each table, for item keys.
	Topology topology.Topology
	// Retention is how long records are kept after their time; zero keeps
	// them until the directory is deleted (make dev-clean).
	Retention time.Duration
	// CompactEvery is how often a writer drops expired records from its
	// files (it also does at open); default 10 minutes. Without a
	// retention nothing expires.
	CompactEvery time.Duration
	// Sync makes every write durable (fsync) before it returns. Without
	// it a killed process loses nothing it wrote, but a machine that
	// loses power may lose the last moments.
	Sync bool
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger reports repaired files; default slog.Default().
	Logger *slog.Logger
}

// Validate reports every problem at once.
func (c FileConfig) Validate() error {
	var errList []error
	if c.Retention < 0 {
		errList = append(errList, errors.New("eventlog: negative retention"))
	}
	if c.CompactEvery < 0 {
		errList = append(errList, errors.New("eventlog: negative compaction interval"))
	}
	return errors.Join(errList...)
}

// LocalDir is the event log's directory under the dev runtime's state
// directory (.dev/eventlog).
func LocalDir(stateDir string) string { return filepath.Join(stateDir, "eventlog") }

// The files of a FileStore: JSON lines, one record a line, appended.
const (
	changesFile    = "changes.jsonl"
	deliveriesFile = "deliveries.jsonl"
	pushesFile     = "pushes.jsonl"
	topicsFile     = "topics.jsonl"
	lockFile       = "LOCK"
)

type kind int

const (
	kChanges kind = iota
	kDeliveries
	kPushes
	kTopics
	nKinds
)

var fileNames = [nKinds]string{changesFile, deliveriesFile, pushesFile, topicsFile}

// segment is one JSON-lines file.
type segment struct {
	path string
	f    *os.File
	// size is the length of the file's complete lines.
	size int64
	// info identifies the file a reader has open, to notice when the
	// writer replaced it (compaction).
	info os.FileInfo
}

// FileStore is the event log in local files: one JSON-lines file per kind
// of record under a directory, appended to by one process (the dev
// runtime) that holds the directory's lock, with in-memory indexes built
// at open. A torn last line, left by a process killed mid-write, is cut
// off by the next writer and ignored by readers. OpenFileReader opens the
// same files read-only without the lock, for another process (the CLI).
type FileStore struct {
	dir      string
	cfg      FileConfig
	schemas  schemas
	ret      retention
	log      *slog.Logger
	readOnly bool

	mu     sync.RWMutex
	segs   [nKinds]*segment
	idx    *fileIndex
	gen    int // bumped at every reload: offsets of an older gen are stale
	lock   *os.File
	closed bool

	stop chan struct{}
	done chan struct{}
}

// OpenFileStore opens (creating) the log in dir for writing: it takes the
// directory's lock (ErrLocked when another process holds it), repairs a
// torn last line, drops expired records, and starts compacting
// periodically. Close releases it.
func OpenFileStore(dir string, cfg FileConfig) (*FileStore, error) {
	s, err := newFileStore(dir, cfg, false)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("eventlog: %w", err)
	}
	if s.lock, err = lockDir(filepath.Join(dir, lockFile)); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.openSegments(); err != nil {
		s.closeLocked()
		return nil, err
	}
	if err := s.loadLocked(); err != nil {
		s.closeLocked()
		return nil, err
	}
	if err := s.compactLocked(); err != nil {
		s.closeLocked()
		return nil, err
	}
	if s.cfg.Retention > 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.compactLoop(s.stop, s.done)
	}
	return s, nil
}

// OpenFileReader opens the log in dir read-only, without the lock, while
// a writer may be appending: every query first reads what was appended
// since. Writes fail with ErrReadOnly; Head reports 0 for a topic with no
// live log instead of reserving a position. A directory with no log yet
// reads as empty.
func OpenFileReader(dir string, cfg FileConfig) (*FileStore, error) {
	s, err := newFileStore(dir, cfg, true)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reloadLocked(); err != nil {
		s.closeLocked()
		return nil, err
	}
	return s, nil
}

func newFileStore(dir string, cfg FileConfig, readOnly bool) (*FileStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, errors.New("eventlog: no directory")
	}
	if cfg.CompactEvery == 0 {
		cfg.CompactEvery = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &FileStore{dir: dir, cfg: cfg, schemas: schemasOf(cfg.Topology), ret: retention(cfg.Retention), log: cfg.Logger, readOnly: readOnly}, nil
}

// Dir is the store's directory.
func (s *FileStore) Dir() string { return s.dir }

// Close stops compaction, closes the files and releases the lock.
func (s *FileStore) Close() error {
	if s.stop != nil {
		s.mu.Lock()
		stop := s.stop
		s.stop = nil
		s.mu.Unlock()
		if stop != nil {
			close(stop)
			<-s.done
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeLocked()
}

func (s *FileStore) closeLocked() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errList []error
	for _, seg := range s.segs {
		if seg != nil && seg.f != nil {
			errList = append(errList, seg.f.Close())
		}
	}
	if s.lock != nil {
		errList = append(errList, unlockDir(s.lock))
	}
	return errors.Join(errList...)
}

// openSegments opens the writer's files for appending.
func (s *FileStore) openSegments() error {
	for k := range nKinds {
		path := filepath.Join(s.dir, fileNames[k])
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("eventlog: %w", err)
		}
		if old := s.segs[k]; old != nil && old.f != nil {
			_ = old.f.Close()
		}
		s.segs[k] = &segment{path: path, f: f}
	}
	return nil
}

// fileIndex is what the store knows of its files, in memory: where each
// record's line is and the keys it is found by. Records are read from the
// files when asked for.
type fileIndex struct {
	changes      map[string]*changeRef
	byItem       map[ItemKey][]*changeRef // in sequence order
	byCorr       map[string][]*changeRef
	byTime       []*changeRef         // in time order
	deliveries   map[string][]lineRef // by event id
	deliveryKeys map[string]bool
	pushes       map[string][]lineRef
	pushKeys     map[string]bool
	topics       map[string]*topicState
}

func newFileIndex() *fileIndex {
	return &fileIndex{
		changes: map[string]*changeRef{}, byItem: map[ItemKey][]*changeRef{}, byCorr: map[string][]*changeRef{},
		deliveries: map[string][]lineRef{}, deliveryKeys: map[string]bool{},
		pushes: map[string][]lineRef{}, pushKeys: map[string]bool{},
		topics: map[string]*topicState{},
	}
}

// lineRef locates a record's line (without its newline).
type lineRef struct {
	off int64
	n   int
	at  time.Time
}

type changeRef struct {
	lineRef
	id    string
	item  ItemKey
	corr  string
	seq   string // seqKey
	order string // changeOrderKey
}

type topicState struct {
	start, head Position
	touched     time.Time
	entries     []entryRef // in position order
	markers     map[string]Position
	// headBytes is the size of the log's head lines in the file.
	headBytes int
}

type entryRef struct {
	lineRef
	pos Position
}

func (st *topicState) entry(pos Position) (entryRef, bool) {
	i, ok := slices.BinarySearchFunc(st.entries, pos, func(e entryRef, p Position) int {
		switch {
		case e.pos < p:
			return -1
		case e.pos > p:
			return 1
		}
		return 0
	})
	if !ok {
		return entryRef{}, false
	}
	return st.entries[i], true
}

// The light shapes lines are read into when indexing.
type changeLine struct {
	ID       string    `json:"id"`
	Seq      string    `json:"sequenceNumber"`
	At       time.Time `json:"approximateCreationTime"`
	Corr     string    `json:"correlationId"`
	Item     ItemKey   `json:"item"`
	LoggedAt time.Time `json:"loggedAt"`
}

type recordLine struct {
	EventID        string    `json:"eventId"`
	Route          string    `json:"route"`
	MessageID      string    `json:"messageId"`
	Attempt        int       `json:"attempt"`
	ConnectionID   string    `json:"connectionId"`
	SubscriptionID string    `json:"subscriptionId"`
	Redelivered    bool      `json:"redelivered"`
	At             time.Time `json:"at"`
}

// topicLine is a topic log line: an entry (Position set, with Event) or a
// head (Start set): where a topic's log starts and how far it went.
type topicLine struct {
	Topic      string          `json:"topic"`
	Position   Position        `json:"position,omitempty"`
	EventID    string          `json:"eventId,omitempty"`
	AppendedAt time.Time       `json:"appendedAt,omitzero"`
	Event      json.RawMessage `json:"event,omitempty"`
	Start      Position        `json:"start,omitempty"`
	Head       Position        `json:"head,omitempty"`
	Touched    time.Time       `json:"touched,omitzero"`
}

// loadLocked builds the index from the writer's files, cutting off a torn
// last line.
func (s *FileStore) loadLocked() error {
	s.idx = newFileIndex()
	s.gen++
	now := s.cfg.Now()
	for k := range nKinds {
		seg := s.segs[k]
		end, err := s.scan(seg, 0, k, now)
		if err != nil {
			return err
		}
		info, err := seg.f.Stat()
		if err != nil {
			return fmt.Errorf("eventlog: %w", err)
		}
		if info.Size() > end {
			s.log.Warn("eventlog: cut off a torn last line (the writer stopped mid-write)",
				"file", seg.path, "bytes", info.Size()-end)
			if err := seg.f.Truncate(end); err != nil {
				return fmt.Errorf("eventlog: repair %s: %w", seg.path, err)
			}
		}
		seg.size, seg.info = end, info
	}
	return nil
}

// reloadLocked (re)opens a reader's files and builds the index.
func (s *FileStore) reloadLocked() error {
	s.idx = newFileIndex()
	s.gen++
	now := s.cfg.Now()
	for k := range nKinds {
		if old := s.segs[k]; old != nil && old.f != nil {
			_ = old.f.Close()
		}
		path := filepath.Join(s.dir, fileNames[k])
		seg := &segment{path: path}
		s.segs[k] = seg
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("eventlog: %w", err)
		}
		seg.f = f
		if seg.info, err = f.Stat(); err != nil {
			return fmt.Errorf("eventlog: %w", err)
		}
		if seg.size, err = s.scan(seg, 0, k, now); err != nil {
			return err
		}
	}
	return nil
}

// refreshLocked brings a reader up to date: it reads lines appended since
// and reloads everything when the writer replaced a file.
func (s *FileStore) refreshLocked() error {
	if !s.readOnly {
		return nil
	}
	if s.closed {
		return ErrClosed
	}
	now := s.cfg.Now()
	for k := range nKinds {
		seg := s.segs[k]
		info, err := os.Stat(seg.path)
		if errors.Is(err, fs.ErrNotExist) {
			if seg.f == nil {
				continue
			}
			return s.reloadLocked() // the log was deleted
		}
		if err != nil {
			return fmt.Errorf("eventlog: %w", err)
		}
		if seg.f == nil || !os.SameFile(info, seg.info) || info.Size() < seg.size {
			return s.reloadLocked()
		}
		if info.Size() > seg.size {
			if seg.size, err = s.scan(seg, seg.size, k, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// scan indexes a file's complete lines from off and returns the offset
// after the last one. A line that does not decode, which only damage from
// outside can cause, is skipped and reported.
func (s *FileStore) scan(seg *segment, off int64, k kind, now time.Time) (int64, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(seg.f, off, 1<<62), 256<<10)
	bad := 0
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			break // a torn last line, if any, is left out
		}
		if err != nil {
			return 0, fmt.Errorf("eventlog: read %s: %w", seg.path, err)
		}
		ref := lineRef{off: off, n: len(line) - 1}
		off += int64(len(line))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := s.idx.add(k, line[:len(line)-1], ref, s.ret, now); err != nil {
			bad++
		}
	}
	if bad > 0 {
		s.log.Warn("eventlog: skipped lines that do not decode", "file", seg.path, "lines", bad)
	}
	return off, nil
}

// add indexes one line read from a file.
func (x *fileIndex) add(k kind, line []byte, ref lineRef, ret retention, now time.Time) error {
	switch k {
	case kChanges:
		var l changeLine
		if err := json.Unmarshal(line, &l); err != nil {
			return err
		}
		seq, err := seqKey(l.Seq)
		if err != nil || l.ID == "" {
			return fmt.Errorf("bad change line")
		}
		ref.at = l.At
		if ref.at.IsZero() {
			ref.at = l.LoggedAt
		}
		if _, dup := x.changes[l.ID]; dup || !ret.live(ref.at, now) {
			return nil
		}
		x.addChange(&changeRef{lineRef: ref, id: l.ID, item: l.Item, corr: l.Corr, seq: seq, order: changeOrderKey(ref.at, seq, l.ID)})
	case kDeliveries, kPushes:
		var l recordLine
		if err := json.Unmarshal(line, &l); err != nil {
			return err
		}
		if l.EventID == "" {
			return fmt.Errorf("bad record line")
		}
		ref.at = l.At
		if !ret.live(ref.at, now) {
			return nil
		}
		if k == kDeliveries {
			x.addRecord(x.deliveries, x.deliveryKeys, l.EventID, deliveryKey(Delivery{Route: l.Route, MessageID: l.MessageID, Attempt: l.Attempt}), ref)
		} else {
			x.addRecord(x.pushes, x.pushKeys, l.EventID, pushKey(Push{ConnectionID: l.ConnectionID, SubscriptionID: l.SubscriptionID, Redelivered: l.Redelivered}), ref)
		}
	case kTopics:
		var l topicLine
		if err := json.Unmarshal(line, &l); err != nil {
			return err
		}
		if l.Topic == "" || (l.Position == 0 && l.Start == 0) {
			return fmt.Errorf("bad topic line")
		}
		st := x.topics[l.Topic]
		if st == nil {
			st = &topicState{markers: map[string]Position{}}
			x.topics[l.Topic] = st
		}
		if l.Position == 0 { // a head line: a log (re)starts here
			if l.Start > st.head {
				*st = topicState{start: l.Start, head: l.Start - 1, markers: map[string]Position{}}
			}
			st.headBytes += ref.n + 1
			st.head = max(st.head, l.Head)
			if l.Touched.After(st.touched) {
				st.touched = l.Touched
			}
			return nil
		}
		ref.at = l.AppendedAt
		x.addEntry(st, l.Position, l.EventID, ref, ret.live(ref.at, now))
	}
	return nil
}

func (x *fileIndex) addChange(c *changeRef) {
	x.changes[c.id] = c
	insertSorted(x.byItem, c.item, c, func(a, b *changeRef) int { return strings.Compare(a.seq+a.id, b.seq+b.id) })
	if c.corr != "" {
		insertSorted(x.byCorr, c.corr, c, func(a, b *changeRef) int { return strings.Compare(a.order, b.order) })
	}
	i := len(x.byTime)
	for i > 0 && x.byTime[i-1].order > c.order {
		i--
	}
	x.byTime = slices.Insert(x.byTime, i, c)
}

func insertSorted[K comparable](m map[K][]*changeRef, k K, c *changeRef, cmp func(a, b *changeRef) int) {
	list := m[k]
	i := len(list)
	for i > 0 && cmp(list[i-1], c) > 0 {
		i--
	}
	m[k] = slices.Insert(list, i, c)
}

func (x *fileIndex) addRecord(m map[string][]lineRef, keys map[string]bool, eventID, key string, ref lineRef) {
	k := eventID + "\x00" + key
	if keys[k] {
		return
	}
	keys[k] = true
	m[eventID] = append(m[eventID], ref)
}

func (x *fileIndex) addEntry(st *topicState, pos Position, eventID string, ref lineRef, live bool) {
	if pos < st.start || pos <= st.head && st.hasEntry(pos) {
		return
	}
	if st.start == 0 {
		st.start = pos // a log whose head line was lost: it starts here
	}
	st.head = max(st.head, pos)
	if ref.at.After(st.touched) {
		st.touched = ref.at
	}
	if !live {
		return
	}
	st.entries = append(st.entries, entryRef{lineRef: ref, pos: pos})
	st.markers[eventID] = pos
}

func (st *topicState) hasEntry(pos Position) bool {
	_, ok := st.entry(pos)
	return ok
}

// readLine reads a record's line.
func (s *FileStore) readLine(k kind, ref lineRef) ([]byte, error) {
	buf := make([]byte, ref.n)
	if _, err := s.segs[k].f.ReadAt(buf, ref.off); err != nil {
		return nil, fmt.Errorf("eventlog: read %s at %d: %w", s.segs[k].path, ref.off, err)
	}
	return buf, nil
}

func (s *FileStore) readChange(ref *changeRef) (Change, error) {
	line, err := s.readLine(kChanges, ref.lineRef)
	if err != nil {
		return Change{}, err
	}
	var c Change
	if err := json.Unmarshal(line, &c); err != nil {
		return Change{}, fmt.Errorf("eventlog: decode change %s: %w", ref.id, err)
	}
	return c, nil
}

// writeLocked appends lines to a file in one write and returns the offset
// they start at. A short write is undone, so the file never keeps half a
// line of a failed write.
func (s *FileStore) writeLocked(k kind, buf []byte) (int64, error) {
	if s.readOnly {
		return 0, ErrReadOnly
	}
	if s.closed {
		return 0, ErrClosed
	}
	seg := s.segs[k]
	off := seg.size
	if n, err := seg.f.Write(buf); err != nil || n != len(buf) {
		if terr := seg.f.Truncate(seg.size); terr != nil {
			err = errors.Join(err, terr)
		}
		return 0, fmt.Errorf("eventlog: write %s: %w", seg.path, err)
	}
	if s.cfg.Sync {
		if err := seg.f.Sync(); err != nil {
			return 0, fmt.Errorf("eventlog: sync %s: %w", seg.path, err)
		}
	}
	seg.size += int64(len(buf))
	return off, nil
}

// WriteChanges appends the changes not logged yet to changes.jsonl.
func (s *FileStore) WriteChanges(ctx context.Context, events ...change.Event) error {
	if s.readOnly {
		return ErrReadOnly
	}
	now := s.cfg.Now()
	prepared := make([]preparedChange, 0, len(events))
	for _, e := range events {
		p, err := prepareChange(s.schemas, e, now)
		if err != nil {
			return err
		}
		if s.ret.live(p.at, now) {
			prepared = append(prepared, p)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		buf  []byte
		refs []*changeRef
		seen = map[string]bool{}
	)
	for _, p := range prepared {
		if _, dup := s.idx.changes[p.rec.ID]; dup || seen[p.rec.ID] {
			continue
		}
		seen[p.rec.ID] = true
		refs = append(refs, &changeRef{
			lineRef: lineRef{off: int64(len(buf)), n: len(p.data), at: p.at},
			id:      p.rec.ID, item: p.rec.Item, corr: p.rec.CorrelationID, seq: p.seq,
			order: changeOrderKey(p.at, p.seq, p.rec.ID),
		})
		buf = append(append(buf, p.data...), '\n')
	}
	if len(buf) == 0 {
		return nil
	}
	off, err := s.writeLocked(kChanges, buf)
	if err != nil {
		return err
	}
	for _, r := range refs {
		r.off += off
		s.idx.addChange(r)
	}
	return nil
}

// WriteDeliveries appends the deliveries not logged yet.
func (s *FileStore) WriteDeliveries(ctx context.Context, ds ...Delivery) error {
	if s.readOnly {
		return ErrReadOnly
	}
	now := s.cfg.Now()
	type rec struct {
		id, key string
		at      time.Time
		data    []byte
	}
	recs := make([]rec, 0, len(ds))
	for _, d := range ds {
		d, data, err := prepareDelivery(d, now)
		if err != nil {
			return err
		}
		if s.ret.live(d.At, now) {
			recs = append(recs, rec{d.EventID, deliveryKey(d), d.At, data})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appendRecordsLocked(kDeliveries, s.idx.deliveries, s.idx.deliveryKeys, len(recs), func(i int) (string, string, time.Time, []byte) {
		return recs[i].id, recs[i].key, recs[i].at, recs[i].data
	})
}

// WritePushes appends the pushes not logged yet.
func (s *FileStore) WritePushes(ctx context.Context, ps ...Push) error {
	if s.readOnly {
		return ErrReadOnly
	}
	now := s.cfg.Now()
	type rec struct {
		id, key string
		at      time.Time
		data    []byte
	}
	recs := make([]rec, 0, len(ps))
	for _, p := range ps {
		p, data, err := preparePush(p, now)
		if err != nil {
			return err
		}
		if s.ret.live(p.At, now) {
			recs = append(recs, rec{p.EventID, pushKey(p), p.At, data})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appendRecordsLocked(kPushes, s.idx.pushes, s.idx.pushKeys, len(recs), func(i int) (string, string, time.Time, []byte) {
		return recs[i].id, recs[i].key, recs[i].at, recs[i].data
	})
}

func (s *FileStore) appendRecordsLocked(k kind, m map[string][]lineRef, keys map[string]bool, n int, rec func(int) (id, key string, at time.Time, data []byte)) error {
	var (
		buf  []byte
		ids  []string
		ks   []string
		refs []lineRef
		seen = map[string]bool{}
	)
	for i := range n {
		id, key, at, data := rec(i)
		full := id + "\x00" + key
		if keys[full] || seen[full] {
			continue
		}
		seen[full] = true
		ids, ks = append(ids, id), append(ks, key)
		refs = append(refs, lineRef{off: int64(len(buf)), n: len(data), at: at})
		buf = append(append(buf, data...), '\n')
	}
	if len(buf) == 0 {
		return nil
	}
	off, err := s.writeLocked(k, buf)
	if err != nil {
		return err
	}
	for i, r := range refs {
		r.off += off
		s.idx.addRecord(m, keys, ids[i], ks[i], r)
	}
	return nil
}

// beginRead is a query's start: a reader catches up, then the index is
// read under the read lock (released by the returned function).
func (s *FileStore) beginRead() (func(), error) {
	if s.readOnly {
		s.mu.Lock()
		err := s.refreshLocked()
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	return s.mu.RUnlock, nil
}

// Event reads the event's change, deliveries and pushes.
func (s *FileStore) Event(ctx context.Context, id string) (EventRecord, error) {
	if err := checkID("event id", id); err != nil {
		return EventRecord{}, err
	}
	done, err := s.beginRead()
	if err != nil {
		return EventRecord{}, err
	}
	defer done()
	rec, found, err := s.eventRecordLocked(id, s.cfg.Now())
	if err != nil {
		return EventRecord{}, err
	}
	if !found {
		return EventRecord{}, fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	return rec, nil
}

func (s *FileStore) eventRecordLocked(id string, now time.Time) (EventRecord, bool, error) {
	var rec EventRecord
	found := false
	if ref := s.idx.changes[id]; ref != nil && s.ret.live(ref.at, now) {
		c, err := s.readChange(ref)
		if err != nil {
			return rec, false, err
		}
		rec.Change, found = &c, true
	}
	for _, ref := range s.idx.deliveries[id] {
		if !s.ret.live(ref.at, now) {
			continue
		}
		var d Delivery
		if err := s.readJSON(kDeliveries, ref, &d); err != nil {
			return rec, false, err
		}
		rec.Deliveries, found = append(rec.Deliveries, d), true
	}
	for _, ref := range s.idx.pushes[id] {
		if !s.ret.live(ref.at, now) {
			continue
		}
		var p Push
		if err := s.readJSON(kPushes, ref, &p); err != nil {
			return rec, false, err
		}
		rec.Pushes, found = append(rec.Pushes, p), true
	}
	sortEventRecord(&rec)
	return rec, found, nil
}

func (s *FileStore) readJSON(k kind, ref lineRef, v any) error {
	line, err := s.readLine(k, ref)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(line, v); err != nil {
		return fmt.Errorf("eventlog: decode %s at %d: %w", s.segs[k].path, ref.off, err)
	}
	return nil
}

func (s *FileStore) readChanges(refs []*changeRef, now time.Time, keep func(*changeRef) bool) ([]Change, error) {
	var out []Change
	for _, ref := range refs {
		if !s.ret.live(ref.at, now) || (keep != nil && !keep(ref)) {
			continue
		}
		c, err := s.readChange(ref)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// ItemHistory reads the item's changes in sequence order.
func (s *FileStore) ItemHistory(ctx context.Context, item ItemKey) ([]Change, error) {
	if item.IsZero() {
		return nil, badInput("no item key")
	}
	done, err := s.beginRead()
	if err != nil {
		return nil, err
	}
	defer done()
	return s.readChanges(s.idx.byItem[item], s.cfg.Now(), nil)
}

// Trace reads the request's changes with their deliveries and pushes.
func (s *FileStore) Trace(ctx context.Context, correlationID string) ([]TraceEntry, error) {
	if err := checkCorrelationID(correlationID); err != nil {
		return nil, err
	}
	done, err := s.beginRead()
	if err != nil {
		return nil, err
	}
	defer done()
	now := s.cfg.Now()
	changes, err := s.readChanges(s.idx.byCorr[correlationID], now, nil)
	if err != nil {
		return nil, err
	}
	records := make(map[string]EventRecord, len(changes))
	for _, c := range changes {
		rec, _, err := s.eventRecordLocked(c.ID, now)
		if err != nil {
			return nil, err
		}
		records[c.ID] = rec
	}
	return traceOf(changes, records), nil
}

// Recent reads the time index from its end.
func (s *FileStore) Recent(ctx context.Context, q RecentQuery) ([]Change, error) {
	done, err := s.beginRead()
	if err != nil {
		return nil, err
	}
	defer done()
	now, limit := s.cfg.Now(), q.limit()
	var out []Change
	for i := len(s.idx.byTime) - 1; i >= 0 && len(out) < limit; i-- {
		ref := s.idx.byTime[i]
		if !q.Since.IsZero() && ref.at.Before(q.Since) {
			break
		}
		if !s.ret.live(ref.at, now) {
			continue
		}
		c, err := s.readChange(ref)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Changes reads the time index in chunks, so that neither memory nor the
// lock is held for the whole log; a compaction between chunks is
// followed by finding the place again by the last change's order key.
func (s *FileStore) Changes(ctx context.Context, f Filter) iter.Seq2[Change, error] {
	return func(yield func(Change, error) bool) {
		last := ""
		if !f.Since.IsZero() {
			last = timeKey(f.Since) // every key of that instant sorts after it
		}
		for {
			if err := ctx.Err(); err != nil {
				yield(Change{}, err)
				return
			}
			chunk, more, err := s.changesAfter(last, f, 256)
			if err != nil {
				yield(Change{}, err)
				return
			}
			for _, c := range chunk {
				if !yield(c, nil) {
					return
				}
			}
			if !more {
				return
			}
			last = changeOrderKey(chunk[len(chunk)-1].At(), mustSeqKey(chunk[len(chunk)-1].SequenceNumber), chunk[len(chunk)-1].ID)
		}
	}
}

func mustSeqKey(seq string) string {
	k, _ := seqKey(seq)
	return k
}

// changesAfter reads up to n changes the filter selects after an order
// key, and says whether there may be more.
func (s *FileStore) changesAfter(last string, f Filter, n int) ([]Change, bool, error) {
	done, err := s.beginRead()
	if err != nil {
		return nil, false, err
	}
	defer done()
	now := s.cfg.Now()
	i, _ := slices.BinarySearchFunc(s.idx.byTime, last, func(c *changeRef, k string) int { return strings.Compare(c.order, k) })
	var out []Change
	for ; i < len(s.idx.byTime); i++ {
		ref := s.idx.byTime[i]
		if ref.order <= last {
			continue
		}
		if !f.Until.IsZero() && !ref.at.Before(f.Until) {
			return out, false, nil
		}
		if !s.ret.live(ref.at, now) || (!f.Item.IsZero() && ref.item != f.Item) {
			continue
		}
		c, err := s.readChange(ref)
		if err != nil {
			return nil, false, err
		}
		if !f.Match(c) {
			continue
		}
		out = append(out, c)
		if len(out) == n {
			return out, true, nil
		}
	}
	return out, false, nil
}
