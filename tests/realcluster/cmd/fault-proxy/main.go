// Command fault-proxy stands in front of a real kube-apiserver and injects the faults that
// kube-apiserver-lite injects by itself, through the same control API (tests/apiserver/kal/
// control.py), so that tests written for the lite server's faults run unchanged on real.
//
//	fault-proxy --upstream https://127.0.0.1:PORT --upstream-ca ca.crt --cert srv.crt --key srv.key
//	            [--token-file F] [--listen 127.0.0.1:0] [--control 127.0.0.1:0] [--info-out F]
//
// The front terminates TLS and offers h2 and http/1.1 by ALPN; every request is forwarded to
// the upstream over one shared HTTP/2 client (clients' own Authorization headers pass through,
// so the API server authenticates and authorizes the real caller), and response bodies are
// flushed as they arrive, so watches stream. The control API is plain HTTP on loopback:
//
//	POST /fail            {"count","code","retryAfter","path_regex","query_regex","plain_text"} or {"clear":true}
//	POST /latency         {"ms"}: delay before each forwarded request
//	POST /drop-watches    {"abort"}: end every watch in flight (abort: close its client connection)
//	POST /listener        {"up"}: close the front port and every client connection, or open it again
//	POST /compact         resuming a watch from, or continuing a list issued at, any resourceVersion
//	                      issued until now gets 410 Expired (writes the Lease kube-system/fault-proxy-compaction)
//	GET  /requests, POST /requests/clear, GET /state
//
// Files: fault.go (the rules), front.go (forwarding), control.go (the control API).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	var cfg frontConfig
	flag.StringVar(&cfg.listen, "listen", "127.0.0.1:0", "the proxied API's TLS address")
	control := flag.String("control", "127.0.0.1:0", "the plain-HTTP control API's address (loopback)")
	flag.StringVar(&cfg.upstream, "upstream", "", "kube-apiserver's URL")
	flag.StringVar(&cfg.upstreamCA, "upstream-ca", "", "the CA file that signed kube-apiserver's certificate")
	flag.StringVar(&cfg.cert, "cert", "", "the serving certificate")
	flag.StringVar(&cfg.key, "key", "", "the serving key")
	flag.StringVar(&cfg.tokenFile, "token-file", "", "a token the proxy reads the current resourceVersion with (/compact)")
	infoOut := flag.String("info-out", "", "write {url, control_url, pid} here once both ports listen")
	flag.Parse()
	if cfg.upstream == "" || cfg.cert == "" || cfg.key == "" {
		log.Fatal("fault-proxy: --upstream, --cert and --key are required")
	}
	p, err := newProxy(cfg)
	if err != nil {
		log.Fatalf("fault-proxy: %v", err)
	}
	if err := p.front.start(); err != nil {
		log.Fatalf("fault-proxy: %v", err)
	}
	ctl, err := net.Listen("tcp", *control)
	if err != nil {
		log.Fatalf("fault-proxy: control: %v", err)
	}
	go serveControl(ctl, p)
	info := map[string]any{"url": "https://" + p.front.addr, "control_url": "http://" + ctl.Addr().String(),
		"pid": os.Getpid()}
	if *infoOut != "" {
		if err := writeInfo(*infoOut, info); err != nil {
			log.Fatalf("fault-proxy: %v", err)
		}
	}
	log.Printf("fault-proxy: %s -> %s, control %s", info["url"], cfg.upstream, info["control_url"])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	p.front.stop()
}

// writeInfo writes through a temporary file, so a reader polling for the file never sees half.
func writeInfo(path string, info map[string]any) error {
	data, err := json.Marshal(info)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("info: %w", err)
	}
	return os.Rename(tmp, path)
}
