package eventlog

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/threefactor/framework/lib/change"
)

// liveLocked is the topic's state when its log is live at now.
func (s *FileStore) liveLocked(topic string, now time.Time) (*topicState, bool) {
	st := s.idx.topics[topic]
	if st == nil || st.start == 0 {
		return st, false
	}
	return st, s.ret.live(st.touched, now)
}

// beginLogLocked starts a topic's log at now (its first, or after the last
// one expired) and returns the head line to write with it.
func (s *FileStore) beginLogLocked(topic string, now time.Time) (*topicState, []byte, error) {
	var prev Position
	if old := s.idx.topics[topic]; old != nil {
		prev = old.head
	}
	start := epochStart(now, prev)
	line, err := json.Marshal(topicLine{Topic: topic, Start: start, Head: start - 1, Touched: now.UTC()})
	if err != nil {
		return nil, nil, err
	}
	line = append(line, '\n')
	return &topicState{start: start, head: start - 1, touched: now, markers: map[string]Position{}, headBytes: len(line)}, line, nil
}

// Append writes the entry (and, for a topic whose log starts, its head
// line) in one write under the store's lock.
func (s *FileStore) Append(ctx context.Context, topic string, e change.Event) (Position, error) {
	if err := checkTopic(topic); err != nil {
		return 0, err
	}
	if err := checkID("event id", e.ID); err != nil {
		return 0, err
	}
	if s.readOnly {
		return 0, ErrReadOnly
	}
	event, err := encodeEntry(e)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	now := s.cfg.Now()
	st, live := s.liveLocked(topic, now)
	if live {
		if p, ok := st.markers[e.ID]; ok {
			if en, ok := st.entry(p); ok && s.ret.live(en.at, now) {
				return p, nil
			}
		}
	}
	var buf []byte
	if !live {
		if st, buf, err = s.beginLogLocked(topic, now); err != nil {
			return 0, err
		}
	}
	pos := st.head + 1
	line, err := json.Marshal(topicLine{Topic: topic, Position: pos, EventID: e.ID, AppendedAt: now.UTC(), Event: event})
	if err != nil {
		return 0, err
	}
	entryAt := len(buf)
	buf = append(append(buf, line...), '\n')
	off, err := s.writeLocked(kTopics, buf)
	if err != nil {
		return 0, err
	}
	s.idx.topics[topic] = st
	st.head, st.touched = pos, now
	st.entries = append(st.entries, entryRef{lineRef: lineRef{off: off + int64(entryAt), n: len(line), at: now}, pos: pos})
	st.markers[e.ID] = pos
	return pos, nil
}

// Head is the topic's head; a writer reserves a position for a topic
// without a live log.
func (s *FileStore) Head(ctx context.Context, topic string) (Position, error) {
	if err := checkTopic(topic); err != nil {
		return 0, err
	}
	if s.readOnly {
		done, err := s.beginRead()
		if err != nil {
			return 0, err
		}
		defer done()
		if st, live := s.liveLocked(topic, s.cfg.Now()); live {
			return st.head, nil
		}
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	now := s.cfg.Now()
	if st, live := s.liveLocked(topic, now); live {
		return st.head, nil
	}
	st, buf, err := s.beginLogLocked(topic, now)
	if err != nil {
		return 0, err
	}
	if _, err := s.writeLocked(kTopics, buf); err != nil {
		return 0, err
	}
	s.idx.topics[topic] = st
	return st.head, nil
}

// Read returns the entries after a position, checked to follow it.
func (s *FileStore) Read(ctx context.Context, topic string, after Position, limit int) ([]Entry, error) {
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	limit = clampLimit(limit, DefaultReadLimit, MaxReadLimit)
	done, err := s.beginRead()
	if err != nil {
		return nil, err
	}
	defer done()
	now := s.cfg.Now()
	st, live := s.liveLocked(topic, now)
	var head topicHead
	if st != nil {
		head = topicHead{start: st.start, pos: st.head, touched: st.touched}
	}
	from, err := readFrom(topic, head, live, after)
	if err != nil || !live || from > head.pos {
		return nil, err
	}
	i, _ := slices.BinarySearchFunc(st.entries, from, func(e entryRef, p Position) int {
		switch {
		case e.pos < p:
			return -1
		case e.pos > p:
			return 1
		}
		return 0
	})
	var out []Entry
	for ; i < len(st.entries) && len(out) < limit; i++ {
		en := st.entries[i]
		more, keep, err := nextEntry(topic, after, out, en.pos, s.ret.live(en.at, now))
		if err != nil {
			return nil, err
		}
		if keep {
			var l topicLine
			if err := s.readJSON(kTopics, en.lineRef, &l); err != nil {
				return nil, err
			}
			entry := Entry{Topic: topic, Position: en.pos, AppendedAt: l.AppendedAt}
			if err := json.Unmarshal(l.Event, &entry.Event); err != nil {
				return nil, fmt.Errorf("eventlog: topic %s: entry %d: %w", topic, en.pos, err)
			}
			out = append(out, entry)
		}
		if !more {
			break
		}
	}
	if len(out) == 0 && after != 0 && from <= head.pos {
		// The entry after the position is gone: compacted away.
		return nil, fmt.Errorf("topic %s after %d: entry %d is no longer retained: %w", topic, after, from, ErrExpired)
	}
	return out, nil
}

// Compact drops expired records from the files now. A writer also does it
// at open and every CompactEvery.
func (s *FileStore) Compact(ctx context.Context) error {
	if s.readOnly {
		return ErrReadOnly
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.compactLocked()
}

func (s *FileStore) compactLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(s.cfg.CompactEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.mu.Lock()
			if !s.closed {
				if err := s.compactLocked(); err != nil {
					s.log.Error("eventlog: compaction failed; will try again", "dir", s.dir, "err", err)
				}
			}
			s.mu.Unlock()
		}
	}
}

// compactLocked rewrites each file that holds expired records with only
// its live lines (each topic's log keeping a head line), replaces it
// atomically (write, fsync, rename) and rebuilds the index. A crash
// midway leaves each file either old or new, never half of one.
func (s *FileStore) compactLocked() error {
	if s.cfg.Retention <= 0 {
		return nil
	}
	now := s.cfg.Now()
	rewrote := false
	for k := range nKinds {
		if !s.expiredIn(k, now) {
			continue
		}
		if err := s.rewrite(k, now); err != nil {
			return err
		}
		rewrote = true
	}
	if !rewrote {
		return nil
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	if err := s.openSegments(); err != nil {
		return err
	}
	return s.loadLocked()
}

// expiredIn reports whether a file holds lines that are no longer
// retained: records of the index past their time, or lines the index
// left out at load because they were already expired.
func (s *FileStore) expiredIn(k kind, now time.Time) bool {
	indexed := 0
	switch k {
	case kChanges:
		for _, c := range s.idx.byTime {
			if !s.ret.live(c.at, now) {
				return true
			}
			indexed += c.n + 1
		}
	case kDeliveries, kPushes:
		m := s.idx.deliveries
		if k == kPushes {
			m = s.idx.pushes
		}
		for _, refs := range m {
			for _, r := range refs {
				if !s.ret.live(r.at, now) {
					return true
				}
				indexed += r.n + 1
			}
		}
	case kTopics:
		for _, st := range s.idx.topics {
			if !s.ret.live(st.touched, now) {
				return true
			}
			indexed += st.headBytes
			for _, en := range st.entries {
				if !s.ret.live(en.at, now) {
					return true
				}
				indexed += en.n + 1
			}
		}
	}
	return int64(indexed) < s.segs[k].size
}

// rewrite writes the live lines of one file to a new file and renames it
// over the old one.
func (s *FileStore) rewrite(k kind, now time.Time) error {
	seg := s.segs[k]
	tmp := seg.path + ".compact"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("eventlog: compact: %w", err)
	}
	defer os.Remove(tmp) // after a successful rename, a no-op
	w := bufio.NewWriterSize(out, 256<<10)
	err = s.copyLive(k, w, now)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, seg.path)
	}
	if err != nil {
		return fmt.Errorf("eventlog: compact %s: %w", seg.path, err)
	}
	return nil
}

// copyLive writes the live lines of a file, in file order.
func (s *FileStore) copyLive(k kind, w io.Writer, now time.Time) error {
	var refs []lineRef
	switch k {
	case kChanges:
		for _, c := range s.idx.byTime {
			refs = append(refs, c.lineRef)
		}
	case kDeliveries:
		for _, rs := range s.idx.deliveries {
			refs = append(refs, rs...)
		}
	case kPushes:
		for _, rs := range s.idx.pushes {
			refs = append(refs, rs...)
		}
	case kTopics:
		topics := make([]string, 0, len(s.idx.topics))
		for t := range s.idx.topics {
			topics = append(topics, t)
		}
		slices.Sort(topics)
		for _, t := range topics {
			st, live := s.liveLocked(t, now)
			if !live {
				continue
			}
			line, err := json.Marshal(topicLine{Topic: t, Start: st.start, Head: st.head, Touched: st.touched.UTC()})
			if err != nil {
				return err
			}
			if _, err := w.Write(append(line, '\n')); err != nil {
				return err
			}
			for _, en := range st.entries {
				refs = append(refs, en.lineRef)
			}
		}
	}
	slices.SortFunc(refs, func(a, b lineRef) int {
		switch {
		case a.off < b.off:
			return -1
		case a.off > b.off:
			return 1
		}
		return 0
	})
	for _, r := range refs {
		if !s.ret.live(r.at, now) {
			continue
		}
		line, err := s.readLine(k, r)
		if err != nil {
			return err
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("eventlog: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("eventlog: sync %s: %w", filepath.Base(dir), err)
	}
	return nil
}
