package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// matcher is a /fail rule's path_regex or query_regex. The lite server uses Python's re; Go's
// has no look-ahead, so the one form the tests use, "^(?!X)" (does not start with X), is
// matched as the negation of "^X".
type matcher struct {
	re     *regexp.Regexp // nil: matches everything
	negate bool
}

func compileMatcher(expr string) (matcher, error) {
	if expr == "" {
		return matcher{}, nil
	}
	m := matcher{}
	if strings.HasPrefix(expr, "^(?!") && strings.HasSuffix(expr, ")") {
		m.negate = true
		expr = "^" + expr[len("^(?!"):len(expr)-1]
	}
	re, err := regexp.Compile(expr)
	m.re = re
	return m, err
}

func (m matcher) match(s string) bool {
	return m.re == nil || m.re.MatchString(s) != m.negate
}

// rule is one /fail entry: the next count requests whose path and raw query match get code.
type rule struct {
	count      int
	code       int
	retryAfter int
	path       matcher
	query      matcher
	plainText  bool
}

// faults holds what the control API set; every request reads it under the lock.
type faults struct {
	mu      sync.Mutex
	rules   []*rule
	latency time.Duration
	// floor: a watch resuming from, or a list continuing at, a resourceVersion below it is
	// told 410 Expired, as after an etcd compaction at floor (0: none).
	floor int64
	// compactions counts /compact calls, so that each one's Lease write changes something.
	compactions int
}

// failBody is /fail's JSON body, with the lite server's field names and defaults.
type failBody struct {
	Clear      bool   `json:"clear"`
	Count      *int   `json:"count"`
	Code       *int   `json:"code"`
	RetryAfter *int   `json:"retryAfter"`
	PathRegex  string `json:"path_regex"`
	QueryRegex string `json:"query_regex"`
	PlainText  bool   `json:"plain_text"`
}

func (f *faults) setFail(b failBody) error {
	r := &rule{count: 1, code: 500, plainText: b.PlainText}
	if b.Count != nil {
		r.count = *b.Count
	}
	if b.Code != nil {
		r.code = *b.Code
	}
	if b.RetryAfter != nil {
		r.retryAfter = *b.RetryAfter
	}
	var err error
	if r.path, err = compileMatcher(b.PathRegex); err != nil {
		return err
	}
	if r.query, err = compileMatcher(b.QueryRegex); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if b.Clear {
		f.rules = nil
		return nil
	}
	kept := f.rules[:0]
	for _, old := range f.rules {
		if old.count > 0 {
			kept = append(kept, old)
		}
	}
	f.rules = append(kept, r)
	return nil
}

// take consumes one use of the first live rule matching the request, as the lite server's
// Faults.take does; nil when none matches.
func (f *faults) take(path, query string) *rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if r.count > 0 && r.path.match(path) && r.query.match(query) {
			r.count--
			c := *r
			return &c
		}
	}
	return nil
}

func (f *faults) delay() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.latency
}

func (f *faults) expired(rv int64) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.floor, f.floor > 0 && rv < f.floor
}

// reasons and messages as the lite server's status.generic() answers them.
var reasons = map[int]string{400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
	405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
	415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
	503: "ServiceUnavailable", 504: "Timeout"}

var messages = map[int]string{
	429: "Too many requests, please try again later.",
	500: "Internal error occurred: injected failure",
	503: "The server is currently unable to handle the request",
	504: "The server was unable to return a response in the time allotted, but may still be processing the request",
}

// status is a metav1.Status failure.
func status(code int, reason, message string, details map[string]any) map[string]any {
	st := map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": message, "reason": reason, "code": code}
	if details != nil {
		st["details"] = details
	}
	return st
}

// writeFault answers a request that a rule caught, without forwarding it.
func writeFault(w http.ResponseWriter, r *rule) {
	if r.plainText {
		ra := r.retryAfter
		if ra == 0 {
			ra = 1
		}
		w.Header().Set("Retry-After", fmt.Sprint(ra))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(r.code)
		_, _ = w.Write([]byte("Too many requests, please try again later.\n"))
		return
	}
	reason := reasons[r.code]
	msg := messages[r.code]
	if msg == "" {
		msg = reason
	}
	if msg == "" {
		msg = "injected failure"
	}
	var details map[string]any
	if r.retryAfter > 0 {
		details = map[string]any{"retryAfterSeconds": r.retryAfter}
		w.Header().Set("Retry-After", fmt.Sprint(r.retryAfter))
	}
	if r.code == 500 {
		if details == nil {
			details = map[string]any{}
		}
		details["causes"] = []any{map[string]any{"message": "injected failure"}}
	}
	writeJSON(w, r.code, status(r.code, reason, msg, details))
}

// writeJSON ends the body with a newline, as the API server's encoder does (a watch event is
// one line).
func writeJSON(w http.ResponseWriter, code int, v any) {
	data, _ := json.Marshal(v)
	data = append(data, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.WriteHeader(code)
	_, _ = w.Write(data)
}
