// The Go peer of the gateway benchmark. It stands in for kube-rbac-proxy (whose module the Go module
// proxy does not serve here) and does the same per-request work kubegate does, minus policy and
// recording: TLS toward the client, the client's Authorization and every identity claim (Impersonate-*,
// X-Remote-*) removed, the request forwarded over pooled TLS connections to the API server with a fixed
// bearer token (the gateway's ServiceAccount) and Impersonate-User/Group/Extra headers naming the
// grant's subject, upgrades (exec, port-forward) relayed as raw streams. Standard library only.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"time"
)

type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve TLS on")
	upstream := flag.String("upstream", "", "API server URL")
	caFile := flag.String("upstream-ca", "", "PEM file of the API server's CA")
	tokenFile := flag.String("token-file", "", "file holding the bearer token sent upstream")
	user := flag.String("impersonate-user", "", "user impersonated upstream")
	sessionID := flag.String("session-id", "go-peer", "value of the kubegate.dev/session-id extra")
	var groups repeated
	flag.Var(&groups, "impersonate-group", "group impersonated upstream (repeatable)")
	flag.Parse()

	target, err := url.Parse(*upstream)
	check(err)
	caPem, err := os.ReadFile(*caFile)
	check(err)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPem) {
		log.Fatalf("no certificate in %s", *caFile)
	}
	token, err := os.ReadFile(*tokenFile)
	check(err)
	bearer := "Bearer " + strings.TrimSpace(string(token))

	transport := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true, // as client-go (and so kube-rbac-proxy) talks to the API server
		// pass the client's Accept-Encoding through as it is: Go would otherwise ask for gzip on the
		// client's behalf and inflate it again, work that neither direct access nor kubegate does
		DisableCompression:  true,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	proxy := &httputil.ReverseProxy{
		Transport: transport,
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
			for name := range r.Out.Header {
				lower := strings.ToLower(name)
				if lower == "authorization" || strings.HasPrefix(lower, "impersonate-") || strings.HasPrefix(lower, "x-remote-") {
					delete(r.Out.Header, name)
				}
			}
			r.Out.Header.Set("Authorization", bearer)
			r.Out.Header.Set("Impersonate-User", *user)
			r.Out.Header["Impersonate-Group"] = groups
			// set directly: Go would canonicalise the name, and the extra's key is its lower-cased tail
			r.Out.Header["Impersonate-Extra-kubegate.dev%2fsession-id"] = []string{*sessionID}
		},
		ErrorLog: log.New(os.Stderr, "go-peer upstream: ", 0),
	}

	listener, err := net.Listen("tcp", *listen)
	check(err)
	server := &http.Server{Handler: proxy, TLSConfig: &tls.Config{Certificates: []tls.Certificate{selfSigned()}}}
	// the bench reads the port from this line
	fmt.Printf("serving on https://%s\n", listener.Addr())
	check(server.ServeTLS(listener, "", ""))
}

// selfSigned is the peer's serving certificate: clients in the bench skip verification (wrk never
// verifies; kubectl is told insecure-skip-tls-verify), so a throwaway one made at start is enough.
func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "kubegate-bench-go-peer"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	check(err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
