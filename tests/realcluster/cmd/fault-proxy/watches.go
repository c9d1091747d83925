package main

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// watchEntry is one watch in flight: cancel ends its upstream request.
type watchEntry struct {
	cancel context.CancelFunc
	conn   net.Conn
	mu     sync.Mutex
	drop   bool
	abort  bool
}

func (w *watchEntry) dropped() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.drop
}

func (w *watchEntry) aborted() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.abort
}

type watchSet struct {
	mu  sync.Mutex
	set map[*watchEntry]struct{}
}

func (s *watchSet) add(cancel context.CancelFunc, ctx context.Context) *watchEntry {
	c, _ := ctx.Value(connKey{}).(net.Conn)
	w := &watchEntry{cancel: cancel, conn: c}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set == nil {
		s.set = map[*watchEntry]struct{}{}
	}
	s.set[w] = struct{}{}
	return w
}

func (s *watchSet) remove(w *watchEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.set, w)
}

func (s *watchSet) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.set)
}

// dropAll ends every watch in flight. Without abort each ends cleanly (its upstream request is
// cancelled and the response finished); with abort its client connection is closed, and with
// it, on HTTP/2, every other stream the client had on it, as a dead connection would.
func (s *watchSet) dropAll(abort bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.set {
		w.mu.Lock()
		w.drop, w.abort = true, abort
		w.mu.Unlock()
		if abort && w.conn != nil {
			_ = w.conn.Close()
		}
		w.cancel()
		delete(s.set, w)
	}
}

// ---- the request log ---------------------------------------------------------------------------

// logEntry has the lite server's request-log fields.
type logEntry struct {
	Method      string  `json:"method"`
	Path        string  `json:"path"`
	Query       string  `json:"query"`
	ContentType string  `json:"content_type"`
	Code        int     `json:"code"`
	UserAgent   string  `json:"user_agent"`
	Time        float64 `json:"time"`
}

// maxLog bounds the log's memory; a test clears it far sooner.
const maxLog = 200000

type requestLog struct {
	mu      sync.Mutex
	entries []*logEntry
}

// add logs a request when it arrives (a watch stays open); done fills in its code.
func (l *requestLog) add(r *http.Request) *logEntry {
	e := &logEntry{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		ContentType: r.Header.Get("Content-Type"), UserAgent: r.Header.Get("User-Agent"),
		Time: float64(time.Now().UnixNano()) / 1e9}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) < maxLog {
		l.entries = append(l.entries, e)
	}
	return e
}

func (l *requestLog) done(e *logEntry, code int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Code = code
}

func (l *requestLog) snapshot() []logEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]logEntry, len(l.entries))
	for i, e := range l.entries {
		out[i] = *e
	}
	return out
}

func (l *requestLog) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = nil
}
