package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// serveControl serves the control API (plain HTTP; bind it to loopback).
func serveControl(ln net.Listener, p *proxy) {
	srv := &http.Server{Handler: http.HandlerFunc(p.control), ReadHeaderTimeout: 10 * time.Second}
	_ = srv.Serve(ln)
}

func (p *proxy) control(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		switch r.URL.Path {
		case "/requests":
			writeJSON(w, 200, p.log.snapshot())
		case "/state":
			writeJSON(w, 200, map[string]any{"watchers": p.watches.count(), "listener_up": p.front.up()})
		default:
			writeJSON(w, 404, map[string]any{"error": "unknown control path " + r.URL.Path})
		}
		return
	}
	var body map[string]json.RawMessage
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil && len(data) > 0 {
		err = json.Unmarshal(data, &body)
	}
	if err != nil {
		writeJSON(w, 400, map[string]any{"error": err.Error()})
		return
	}
	rv, err := p.post(r.URL.Path, data, body)
	if err == errUnknownPath {
		writeJSON(w, 404, map[string]any{"error": "unknown control path " + r.URL.Path})
		return
	}
	if err != nil {
		writeJSON(w, 400, map[string]any{"error": err.Error()})
		return
	}
	writeJSON(w, 200, map[string]any{"ok": true, "resourceVersion": rv})
}

var errUnknownPath = fmt.Errorf("unknown control path")

// post does one POST; the answer carries the API server's resourceVersion when it was read.
func (p *proxy) post(path string, data []byte, body map[string]json.RawMessage) (int64, error) {
	switch path {
	case "/fail":
		var b failBody
		if len(data) > 0 {
			if err := json.Unmarshal(data, &b); err != nil {
				return 0, err
			}
		}
		return 0, p.faults.setFail(b)
	case "/latency":
		var ms float64
		if err := optional(body, "ms", &ms); err != nil {
			return 0, err
		}
		p.faults.mu.Lock()
		p.faults.latency = time.Duration(ms * float64(time.Millisecond))
		p.faults.mu.Unlock()
	case "/drop-watches":
		var abort bool
		if err := optional(body, "abort", &abort); err != nil {
			return 0, err
		}
		p.watches.dropAll(abort)
	case "/listener":
		up := true
		if err := optional(body, "up", &up); err != nil {
			return 0, err
		}
		if up {
			return 0, p.front.start()
		}
		p.front.stop()
	case "/requests/clear":
		p.log.clear()
	case "/compact":
		return p.compact()
	default:
		return 0, errUnknownPath
	}
	return 0, nil
}

func optional(body map[string]json.RawMessage, key string, v any) error {
	if raw, ok := body[key]; ok {
		return json.Unmarshal(raw, v)
	}
	return nil
}

// compact makes every resourceVersion older than the current one too old to resume a watch
// from, as an etcd compaction at the current revision does. (The lite server expires the
// current one too; here a relist that finds no newer write would then loop on 410.) The
// current one is read from the API server (a one-item list of namespaces, with --token-file),
// since the proxy cannot tell it from the traffic alone.
func (p *proxy) compact() (int64, error) {
	token, err := os.ReadFile(p.cfg.tokenFile)
	if err != nil {
		return 0, fmt.Errorf("/compact needs --token-file: %w", err)
	}
	req, err := http.NewRequest("GET", p.cfg.upstream+"/api/v1/namespaces?limit=1", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := p.client.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var list struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return 0, fmt.Errorf("reading the resourceVersion: %s: %w", resp.Status, err)
	}
	rv, err := strconv.ParseInt(list.Metadata.ResourceVersion, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("resourceVersion %q: %w", list.Metadata.ResourceVersion, err)
	}
	p.faults.mu.Lock()
	p.faults.floor = rv
	p.faults.mu.Unlock()
	return rv, nil
}
