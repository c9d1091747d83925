package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

type frontConfig struct {
	listen, upstream, upstreamCA, cert, key, tokenFile string
}

// proxy is the whole state: the faults, the request log, the watches in flight and the front.
type proxy struct {
	cfg      frontConfig
	upstream *url.URL
	client   *http.Transport
	faults   faults
	log      requestLog
	watches  watchSet
	front    *front
}

func newProxy(cfg frontConfig) (*proxy, error) {
	u, err := url.Parse(cfg.upstream)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if cfg.upstreamCA != "" {
		pem, err := os.ReadFile(cfg.upstreamCA)
		if err != nil {
			return nil, err
		}
		pool.AppendCertsFromPEM(pem)
	}
	p := &proxy{cfg: cfg, upstream: u}
	// One HTTP/2 client for every forwarded request: the API server sees the proxy's few
	// connections, the clients see theirs to the proxy (which is what the tests count).
	// Compression is left to the client: its Accept-Encoding and the gzip body pass through.
	p.client = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true,
		DisableCompression: true, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}
	cert, err := tls.LoadX509KeyPair(cfg.cert, cfg.key)
	if err != nil {
		return nil, err
	}
	p.front = &front{addr: cfg.listen, handler: p, tls: &tls.Config{Certificates: []tls.Certificate{cert},
		NextProtos: []string{"h2", "http/1.1"}}}
	return p, nil
}

// hop-by-hop headers (RFC 9110 7.6.1) are the connection's, not the message's.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = append([]string(nil), vs...)
	}
	for _, h := range hopHeaders {
		dst.Del(h)
	}
}

// isWatch: the API server parses watch= with strconv.ParseBool (python-kubernetes sends
// "True"); /watch/ is the old path form.
func isWatch(r *http.Request) bool {
	w, _ := strconv.ParseBool(r.URL.Query().Get("watch"))
	return w || strings.Contains(r.URL.Path, "/watch/")
}

// ServeHTTP: latency, then an injected failure or a forced 410, else the upstream's answer.
func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &codeRecorder{ResponseWriter: w, log: &p.log, entry: p.log.add(r)}
	if d := p.faults.delay(); d > 0 {
		time.Sleep(d)
	}
	if rule := p.faults.take(r.URL.Path, r.URL.RawQuery); rule != nil {
		writeFault(rec, rule)
		return
	}
	watch := isWatch(r)
	if watch && p.tooOld(rec, r) {
		return
	}
	if !watch && p.continueExpired(rec, r) {
		return
	}
	p.forward(rec, r, watch)
}

// tooOld answers a watch that resumes from before the last /compact as the API server does
// after a compaction: 200 and one ERROR event carrying a 410 Expired Status.
func (p *proxy) tooOld(w http.ResponseWriter, r *http.Request) bool {
	rv, err := strconv.ParseInt(r.URL.Query().Get("resourceVersion"), 10, 64)
	if err != nil || rv == 0 || r.URL.Query().Get("sendInitialEvents") == "true" {
		return false
	}
	floor, expired := p.faults.expired(rv)
	if !expired {
		return false
	}
	ev := map[string]any{"type": "ERROR", "object": status(410, "Expired",
		fmt.Sprintf("too old resource version: %d (%d)", rv, floor), nil)}
	writeJSON(w, http.StatusOK, ev)
	return true
}

// continueExpiredMsg is the API server's message for a continue token older than the
// compaction (k8s.io/apiserver storage errors).
const continueExpiredMsg = "The provided continue parameter is too old to display a consistent list result. " +
	"You can start a new list without the continue parameter, or use the continue token in this response to " +
	"retrieve the remainder of the results. Continuing with the provided token results in an inconsistent " +
	"list - objects that were created, modified, or deleted between the time the first chunk was returned " +
	"and now may show up in the list."

// continueExpired answers a list page whose continue token was issued before the last
// /compact as the API server does: 410 Expired. The token is the API server's base64 JSON
// {"v", "rv", "start"}; one the proxy cannot read is forwarded as it is.
func (p *proxy) continueExpired(w http.ResponseWriter, r *http.Request) bool {
	tok := r.URL.Query().Get("continue")
	if tok == "" {
		return false
	}
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding} {
		if raw, err = enc.DecodeString(tok); err == nil {
			break
		}
	}
	var c struct {
		RV int64 `json:"rv"`
	}
	if err != nil || json.Unmarshal(raw, &c) != nil {
		return false
	}
	if _, expired := p.faults.expired(c.RV); !expired {
		return false
	}
	writeJSON(w, http.StatusGone, status(410, "Expired", continueExpiredMsg, nil))
	return true
}

func (p *proxy) forward(w http.ResponseWriter, r *http.Request, watch bool) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	out := r.Clone(ctx)
	out.URL.Scheme, out.URL.Host = p.upstream.Scheme, p.upstream.Host
	out.Host, out.RequestURI = "", ""
	out.Header = http.Header{}
	copyHeader(out.Header, r.Header)
	if r.ContentLength == 0 {
		out.Body = nil
	}
	var wt *watchEntry
	if watch {
		// Registered before the upstream answers, so a drop right after a watch starts ends it.
		wt = p.watches.add(cancel, r.Context())
		defer p.watches.remove(wt)
	}
	resp, err := p.client.RoundTrip(out)
	if err != nil {
		if wt != nil && wt.dropped() {
			return
		}
		writeJSON(w, http.StatusBadGateway, status(502, "", "fault-proxy: "+err.Error(), nil))
		return
	}
	defer resp.Body.Close()
	copyHeader(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	stream(w, resp.Body, wt)
}

// stream copies the body and flushes each read, so watch events reach the client as they come.
// A dropped watch ends here normally: the client sees the end of a chunked body or the
// HTTP/2 stream's END_STREAM, as when the API server ends a watch.
func stream(w http.ResponseWriter, body io.Reader, wt *watchEntry) {
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush() // the headers now: a watch's first event may be minutes away
	}
	buf := make([]byte, 32*1024)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if err != nil {
			if wt != nil && wt.aborted() {
				// Abort: the client connection is already closed; tell net/http not to
				// finish the response either.
				panic(http.ErrAbortHandler)
			}
			return
		}
	}
}

// codeRecorder puts the status code in the request log once it is sent (a watch's while open).
type codeRecorder struct {
	http.ResponseWriter
	log   *requestLog
	entry *logEntry
}

func (c *codeRecorder) WriteHeader(code int) {
	c.log.done(c.entry, code)
	c.ResponseWriter.WriteHeader(code)
}

func (c *codeRecorder) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// ---- the front: a TLS listener that /listener can close and open again ---------------------

type connKey struct{}

type front struct {
	mu      sync.Mutex
	addr    string // host:port; the port chosen at the first start is kept for later ones
	handler http.Handler
	tls     *tls.Config
	srv     *http.Server
}

func (f *front) start() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv != nil {
		return nil
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old socket may linger a moment after a stop
		if ln, err = net.Listen("tcp", f.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	f.addr = ln.Addr().String()
	srv := &http.Server{Handler: f.handler, TLSConfig: f.tls.Clone(),
		// The client connection in each request's context: /drop-watches {"abort": true}
		// closes it, as the lite server shuts down a watch's socket.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		}}
	f.srv = srv
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return nil
}

// stop closes the listener and every client connection, watches included.
func (f *front) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.srv != nil {
		_ = f.srv.Close()
		f.srv = nil
	}
}

func (f *front) up() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.srv != nil
}
