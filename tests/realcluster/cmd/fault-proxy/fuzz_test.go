package main

// Fuzz targets for what the proxy parses from the network: a list's continue token (from any
// client of the proxy) and the control API's JSON bodies and patterns. `go test` replays the
// seeds below (ctest real_fault_proxy_fuzz); `go test -fuzz=FuzzX` explores.

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func FuzzContinueToken(f *testing.F) {
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"v":"meta.k8s.io/v1","rv":5,"start":"a\u0000"}`)))
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"rv":500}`)))
	f.Add("not base64 at all")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"rv":"5"}`)))
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		p := &proxy{}
		p.faults.floor = 100
		r := httptest.NewRequest("GET", "/api/v1/configmaps?limit=1&continue="+url.QueryEscape(tok), nil)
		w := httptest.NewRecorder()
		if p.continueExpired(w, r) {
			var st map[string]any
			if w.Code != http.StatusGone || json.Unmarshal(w.Body.Bytes(), &st) != nil || st["reason"] != "Expired" {
				t.Fatalf("token %q: answered %d %s", tok, w.Code, w.Body.String())
			}
		} else if w.Body.Len() != 0 {
			t.Fatalf("token %q: not expired, yet answered %s", tok, w.Body.String())
		}
	})
}

func FuzzControlBody(f *testing.F) {
	f.Add("/fail", `{"count":2,"code":429,"retryAfter":1,"path_regex":"meshclusters$","query_regex":"^(?!.*watch=)"}`)
	f.Add("/fail", `{"clear":true}`)
	f.Add("/fail", `{"path_regex":"(("}`)
	f.Add("/latency", `{"ms":12.5}`)
	f.Add("/drop-watches", `{"abort":"yes"}`)
	f.Add("/requests/clear", ``)
	f.Fuzz(func(t *testing.T, path, body string) {
		if path == "/listener" || path == "/compact" {
			return // they open ports or call the API server
		}
		p := &proxy{}
		var parsed map[string]json.RawMessage
		if body != "" && json.Unmarshal([]byte(body), &parsed) != nil {
			return // control() answers 400 before post()
		}
		_, _ = p.post(path, []byte(body), parsed)
		// Whatever the rules became, matching a request must not panic and must not consume
		// more than one use of one rule.
		before := liveUses(&p.faults)
		if p.faults.take("/api/v1/namespaces", "watch=true") != nil && liveUses(&p.faults) != before-1 {
			t.Fatalf("take consumed %d uses", before-liveUses(&p.faults))
		}
	})
}

func liveUses(f *faults) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.rules {
		if r.count > 0 {
			n += r.count
		}
	}
	return n
}
