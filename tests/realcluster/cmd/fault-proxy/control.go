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

// compact makes every resourceVersion issued until now too old to resume a watch from or to
// continue a list at, as the lite server's /compact does. The proxy cannot tell the current
// resourceVersion from the traffic, and a floor at the current one would make a client that
// relists before anything else is written get that same version back and 410 again, in a
// loop. So compact writes once (server-side apply of the Lease kube-system/fault-proxy-
// compaction, with --token-file) and puts the floor at that write: everything before it is
// expired, every list from then on returns the floor or later.
func (p *proxy) compact() (int64, error) {
	token, err := os.ReadFile(p.cfg.tokenFile)
	if err != nil {
		return 0, fmt.Errorf("/compact needs --token-file: %w", err)
	}
	p.faults.mu.Lock()
	p.faults.compactions++
	n := p.faults.compactions
	p.faults.mu.Unlock()
	lease := fmt.Sprintf(`{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"fault-proxy-compaction",`+
		`"namespace":"kube-system"},"spec":{"holderIdentity":"fault-proxy-%d-%d"}}`, os.Getpid(), n)
	req, err := http.NewRequest("PATCH", p.cfg.upstream+
		"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/fault-proxy-compaction?fieldManager=fault-proxy&force=true",
		strings.NewReader(lease))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Content-Type", "application/apply-patch+yaml")
	resp, err := p.client.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var obj struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&obj); err != nil || resp.StatusCode/100 != 2 { // 201: created
		return 0, fmt.Errorf("writing the compaction Lease: %s (%v)", resp.Status, err)
	}
	rv, err := strconv.ParseInt(obj.Metadata.ResourceVersion, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("resourceVersion %q: %w", obj.Metadata.ResourceVersion, err)
	}
	p.faults.mu.Lock()
	p.faults.floor = rv
	p.faults.mu.Unlock()
	return rv, nil
}
