package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestTLSSettings: the TLS knobs come from flags (-tls-self-signed alone is true), the environment and
// the JSON file; combinations that cannot work are refused with an error naming the flags.
func TestTLSSettings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mcu.json")
	if err := os.WriteFile(file, []byte(`{"tls_self_signed":true,"https":":9443","tls_dir":"/var/lib/mcu/tls"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		args      []string
		env       map[string]string
		want      Config // the TLS fields only
		wantError string // a part of the error; "" = accepted
	}{
		{name: "defaults", want: Config{HTTPS: ":8443", TLSDir: "tls"}},
		{name: "self-signed alone", args: []string{"-tls-self-signed", "-fps", "15"},
			want: Config{HTTPS: ":8443", TLSDir: "tls", TLSSelfSigned: true}},
		{name: "self-signed=false over env", args: []string{"-tls-self-signed=false"}, env: map[string]string{"MCU_TLS_SELF_SIGNED": "true"},
			want: Config{HTTPS: ":8443", TLSDir: "tls"}},
		{name: "env", env: map[string]string{"MCU_TLS_SELF_SIGNED": "1", "MCU_HTTPS": ":443", "MCU_TLS_DIR": "/tmp/x"},
			want: Config{HTTPS: ":443", TLSDir: "/tmp/x", TLSSelfSigned: true}},
		{name: "file", args: []string{"-config", file}, want: Config{HTTPS: ":9443", TLSDir: "/var/lib/mcu/tls", TLSSelfSigned: true}},
		{name: "cert and key", args: []string{"-tls-cert", "c.pem", "-tls-key", "k.pem", "-https", "127.0.0.1:9443"},
			want: Config{HTTPS: "127.0.0.1:9443", TLSDir: "tls", TLSCert: "c.pem", TLSKey: "k.pem"}},
		{name: "cert without key", args: []string{"-tls-cert", "c.pem"}, wantError: "-tls-cert needs -tls-key"},
		{name: "key without cert", args: []string{"-tls-key", "k.pem"}, wantError: "-tls-key needs -tls-cert"},
		{name: "self-signed and cert", args: []string{"-tls-self-signed", "-tls-cert", "c.pem", "-tls-key", "k.pem"},
			wantError: "-tls-self-signed and -tls-cert/-tls-key exclude each other"},
		{name: "self-signed and cert, env", args: []string{"-tls-cert", "c.pem"}, env: map[string]string{"MCU_TLS_SELF_SIGNED": "true"},
			wantError: "exclude each other"},
		{name: "no https address", args: []string{"-tls-self-signed", "-https", ""}, wantError: "https address is empty"},
		{name: "no tls dir", args: []string{"-tls-self-signed", "-tls-dir", ""}, wantError: "tls dir is empty"},
		{name: "not a bool", args: []string{"-tls-self-signed=maybe"}, wantError: "-tls-self-signed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(tt.args, func(k string) string { return tt.env[k] })
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("loadConfig(%q, env %v): %v, want an error with %q", tt.args, tt.env, err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig(%q, env %v): %v", tt.args, tt.env, err)
			}
			got := Config{HTTPS: cfg.HTTPS, TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey, TLSSelfSigned: cfg.TLSSelfSigned, TLSDir: cfg.TLSDir}
			if !jsonEqual(got, tt.want) {
				t.Errorf("loadConfig(%q, env %v): tls settings %+v, want %+v", tt.args, tt.env, got, tt.want)
			}
		})
	}
	cfg := DefaultConfig()
	cfg.TLSSelfSigned, cfg.SIP.PublicHost = true, "192.0.2.7"
	if got, want := cfg.publicURL(), "https://192.0.2.7:8443"; got != want {
		t.Errorf("public url with TLS on: %q, want %q", got, want)
	}
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestRedirectToHTTPS: the plain listener sends every request to the same path and query over HTTPS, on
// the host the client asked for, with 308 (which keeps the method and body, for WHIP's POST); GET
// /healthz still answers there.
func TestRedirectToHTTPS(t *testing.T) {
	for _, tt := range []struct {
		method, target, host, port string
		wantCode                   int
		wantLocation               string
	}{
		{"GET", "/room/standup?name=Ann&autojoin=1", "192.168.1.20:8080", "8443", 308, "https://192.168.1.20:8443/room/standup?name=Ann&autojoin=1"},
		{"GET", "/", "meet.example.org", "8443", 308, "https://meet.example.org:8443/"},
		{"POST", "/whip/r?name=Cam", "meet.example.org:8080", "8443", 308, "https://meet.example.org:8443/whip/r?name=Cam"},
		{"GET", "/room/a%20b?x=%2F", "[::1]:8080", "8443", 308, "https://[::1]:8443/room/a%20b?x=%2F"},
		{"GET", "/ws", "example.org:80", "443", 308, "https://example.org/ws"},
		{"GET", "/", "[2001:db8::1]", "443", 308, "https://[2001:db8::1]/"},
		{"GET", "/healthz", "example.org:8080", "8443", 200, ""},
		{"HEAD", "/healthz", "example.org:8080", "8443", 200, ""},
		{"POST", "/healthz", "example.org:8080", "8443", 308, "https://example.org:8443/healthz"},
		{"GET", "/metrics", "example.org:8080", "8443", 308, "https://example.org:8443/metrics"},
		{"GET", "/", "", "8443", 400, ""},
	} {
		req := httptest.NewRequest(tt.method, tt.target, nil)
		req.Host = tt.host
		rec := httptest.NewRecorder()
		redirectToHTTPS(tt.port).ServeHTTP(rec, req)
		if rec.Code != tt.wantCode || rec.Header().Get("Location") != tt.wantLocation {
			t.Errorf("%s %s (Host %q, https port %s): %d %q, want %d %q", tt.method, tt.target, tt.host, tt.port,
				rec.Code, rec.Header().Get("Location"), tt.wantCode, tt.wantLocation)
		}
		if tt.wantCode == 200 && tt.method == "GET" && rec.Body.String() != "ok\n" {
			t.Errorf("%s %s: body %q, want ok", tt.method, tt.target, rec.Body)
		}
	}
}

// TestSelfSignedCert: the certificate is ECDSA P-256, valid about a year, for the given names and
// addresses, kept in a 0700 directory with a 0600 key; it is reused while valid and covering the
// addresses, remade (with the old addresses too) when one is new, and remade when it nears expiry or its
// files are damaged.
func TestSelfSignedCert(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	names := []string{"localhost", "mcuhost", "mcuhost.local"}
	home := []net.IP{net.ParseIP("127.0.0.1").To4(), net.IPv6loopback, net.ParseIP("192.168.1.20").To4()}
	office := []net.IP{net.ParseIP("127.0.0.1").To4(), net.IPv6loopback, net.ParseIP("10.0.0.5").To4(), net.ParseIP("2001:db8::5")}
	t0 := time.Now()
	day := 24 * time.Hour
	var prev tls.Certificate
	for _, step := range []struct {
		name      string
		ips       []net.IP
		now       time.Time
		damage    string // a file to overwrite with garbage first
		wantFresh bool
		wantIPs   []net.IP // besides ips
	}{
		{name: "first start", ips: home, now: t0, wantFresh: true},
		{name: "next start", ips: home, now: t0.Add(day), wantFresh: false},
		{name: "new address", ips: office, now: t0.Add(2 * day), wantFresh: true, wantIPs: home},
		{name: "back home", ips: home, now: t0.Add(3 * day), wantFresh: false, wantIPs: office},
		{name: "one address gone", ips: home[:2], now: t0.Add(4 * day), wantFresh: false},
		{name: "near expiry", ips: home, now: t0.Add(360 * day), wantFresh: true},
		{name: "damaged key", ips: home, now: t0.Add(361 * day), damage: selfSignedKeyFile, wantFresh: true},
		{name: "damaged certificate", ips: home, now: t0.Add(361 * day), damage: selfSignedCertFile, wantFresh: true},
	} {
		if step.damage != "" {
			if err := os.WriteFile(filepath.Join(dir, step.damage), []byte("garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cert, fresh, err := selfSignedCert(dir, names, step.ips, step.now)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if fresh != step.wantFresh {
			t.Errorf("%s: fresh %t, want %t", step.name, fresh, step.wantFresh)
		}
		if same := prev.Leaf != nil && string(prev.Leaf.Raw) == string(cert.Leaf.Raw); same == step.wantFresh {
			t.Errorf("%s: same certificate as before: %t", step.name, same)
		}
		prev = cert
		leaf := cert.Leaf
		if !covers(leaf, names, append(slices.Clone(step.ips), step.wantIPs...)) {
			t.Errorf("%s: certificate for %v %v, want %v %v %v", step.name, leaf.DNSNames, leaf.IPAddresses, names, step.ips, step.wantIPs)
		}
		if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
			t.Errorf("%s: key %T, want ECDSA P-256", step.name, leaf.PublicKey)
		}
		if v := leaf.NotAfter.Sub(leaf.NotBefore); v < 364*day || v > 366*day {
			t.Errorf("%s: valid for %v, want about a year", step.name, v)
		}
		if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || leaf.IsCA {
			t.Errorf("%s: ext key usage %v, CA %t; want a server certificate", step.name, leaf.ExtKeyUsage, leaf.IsCA)
		}
		// What a browser does once the certificate is accepted: verify it for each address.
		roots := x509.NewCertPool()
		roots.AddCert(leaf)
		for _, host := range []string{"localhost", "127.0.0.1", "::1", "mcuhost.local", step.ips[len(step.ips)-1].String()} {
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: step.now}); err != nil {
				t.Errorf("%s: verify for %s: %v", step.name, host, err)
			}
		}
	}
	for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, filepath.Join(dir, selfSignedKeyFile): 0o600} {
		if st, err := os.Stat(path); err != nil || st.Mode() != want {
			t.Errorf("%s: mode %v (%v), want %v", path, st.Mode(), err, want)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestHTTPSServer runs the server binary with -tls-self-signed: it prints the HTTPS address and the
// fingerprint of the certificate it serves, whose addresses include 127.0.0.1, ::1 and the machine's;
// it serves the page over HTTPS (HTTP/2) without HSTS; plain HTTP redirects with 308 keeping path and
// query, but /healthz answers there; a WebSocket join over wss:// from the page's own origin succeeds
// and one from another origin is refused; a second start reuses the certificate. Bad TLS flags stop it
// at once with an error that names them.
func TestHTTPSServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	bin := filepath.Join(t.TempDir(), "mcu")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	tlsDir := filepath.Join(t.TempDir(), "tls")
	srv := startTLSServer(t, bin, "-tls-self-signed", "-tls-dir", tlsDir)

	certPEM, err := os.ReadFile(filepath.Join(tlsDir, selfSignedCertFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(certPEM) {
		t.Fatalf("no certificate in %s", certPEM)
	}
	client := httpsClient(roots)
	resp, err := client.Get("https://" + srv.https + "/room/tls-test")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<html") || resp.ProtoMajor != 2 {
		t.Errorf("GET https://%s/room/tls-test: %d %s, want 200 with the page over HTTP/2", srv.https, resp.StatusCode, resp.Proto)
	}
	if h := resp.Header.Get("Strict-Transport-Security"); h != "" {
		t.Errorf("HSTS %q with a self-signed certificate, want none", h)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if got := fingerprint(leaf.Raw); got != srv.fingerprint {
		t.Errorf("served certificate's SHA-256 %s, printed %s", got, srv.fingerprint)
	}
	host, _ := os.Hostname()
	want := []string{"localhost", host, "127.0.0.1", "::1"}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.IsGlobalUnicast() { // private addresses included, link-local not
			want = append(want, n.IP.String())
		}
	}
	for _, h := range want {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("served certificate (%v %v) does not cover %s", leaf.DNSNames, leaf.IPAddresses, h)
		}
	}

	_, httpsPort, _ := net.SplitHostPort(srv.https)
	for _, tt := range []struct{ method, path string }{
		{http.MethodGet, "/room/tls-test?name=Ann&autojoin=1"},
		{http.MethodPost, "/whip/tls-test?name=Cam"},
		{http.MethodGet, "/metrics"},
	} {
		req, _ := http.NewRequest(tt.method, "http://"+srv.plain+tt.path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		wantLoc := "https://127.0.0.1:" + httpsPort + tt.path
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != wantLoc {
			t.Errorf("%s http://%s%s: %d %q, want 308 %q", tt.method, srv.plain, tt.path, resp.StatusCode, resp.Header.Get("Location"), wantLoc)
		}
	}
	resp, err = client.Get("http://" + srv.plain + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Errorf("GET http://%s/healthz: %d %q, want 200 ok", srv.plain, resp.StatusCode, body)
	}

	joinOverWSS(t, srv.https, roots)

	srv.stop(t)
	again := startTLSServer(t, bin, "-tls-self-signed", "-tls-dir", tlsDir)
	if again.fingerprint != srv.fingerprint {
		t.Errorf("second start: fingerprint %s, want the first start's %s (the kept certificate)", again.fingerprint, srv.fingerprint)
	}
	again.stop(t)

	for _, tt := range []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{[]string{"-tls-cert", "cert.pem"}, 2, "-tls-cert needs -tls-key"},
		{[]string{"-tls-key", "key.pem"}, 2, "-tls-key needs -tls-cert"},
		{[]string{"-tls-self-signed", "-tls-cert", "cert.pem", "-tls-key", "key.pem"}, 2, "exclude each other"},
		{[]string{"-tls-cert", filepath.Join(tlsDir, "nosuch.pem"), "-tls-key", filepath.Join(tlsDir, selfSignedKeyFile)}, 1, "load -tls-cert"},
	} {
		cmd := exec.Command(bin, append([]string{"-http", "127.0.0.1:0", "-https", "127.0.0.1:0", "-sip-port", "0", "-turn-port", "0", "-ice-tcp-port", "0"}, tt.args...)...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != tt.wantCode || !strings.Contains(string(out), tt.wantErr) {
			t.Errorf("mcu %q: %v\n%s\nwant exit %d and %q", tt.args, err, out, tt.wantCode, tt.wantErr)
		}
	}
}

// TestHTTPSWithCertificate runs the server in this process with -tls-cert and -tls-key of a certificate
// a test CA signed: a client trusting that CA gets the page over HTTPS with HSTS, the certificate chain
// is the one configured, plain HTTP is redirected, and a wss:// join from the page's origin succeeds.
func TestHTTPSWithCertificate(t *testing.T) {
	dir := t.TempDir()
	roots, certPath, keyPath, leafDER := writeTestCertificate(t, dir)
	cfg := DefaultConfig()
	cfg.SIP.Port = 0
	cfg.TURN.Port, cfg.MCU.TCPPort = 0, 0
	cfg.RecordDir = filepath.Join(dir, "recordings")
	cfg.HTTP, cfg.HTTPS = freeTCPAddr(t), freeTCPAddr(t)
	cfg.TLSCert, cfg.TLSKey = certPath, keyPath
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("the server did not shut down")
		}
	}()

	client := httpsClient(roots)
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err = client.Get("https://" + cfg.HTTPS + "/"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Strict-Transport-Security") != hstsHeader {
		t.Errorf("GET https://%s/: %d, HSTS %q; want 200 and %q", cfg.HTTPS, resp.StatusCode,
			resp.Header.Get("Strict-Transport-Security"), hstsHeader)
	}
	if chain := resp.TLS.PeerCertificates; len(chain) != 2 || string(chain[0].Raw) != string(leafDER) {
		t.Errorf("served chain of %d certificates, want the configured leaf and its CA", len(chain))
	}
	if resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("TLS version %x", resp.TLS.Version)
	}
	old := httpsClient(roots)
	old.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tls.VersionTLS11
	if _, err := old.Get("https://" + cfg.HTTPS + "/"); err == nil {
		t.Error("a TLS 1.1 client was served")
	}
	resp, err = client.Get("http://" + cfg.HTTP + "/watch/r?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://" + cfg.HTTPS + "/watch/r?x=1"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("GET http://%s/watch/r?x=1: %d %q, want 308 %q", cfg.HTTP, resp.StatusCode, resp.Header.Get("Location"), want)
	}
	joinOverWSS(t, cfg.HTTPS, roots)
}

// joinOverWSS joins a room over wss://addr/ws with the Origin of the page served from addr, which must
// succeed, then tries with another site's Origin, which must be refused (403).
func joinOverWSS(t *testing.T, addr string, roots *x509.CertPool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(origin string) (*websocket.Conn, *http.Response, error) {
		return websocket.Dial(ctx, "wss://"+addr+"/ws", &websocket.DialOptions{HTTPClient: httpsClient(roots),
			HTTPHeader: http.Header{"Origin": {origin}}})
	}
	ws, _, err := dial("https://" + addr)
	if err != nil {
		t.Fatalf("wss join with Origin https://%s: %v", addr, err)
	}
	defer ws.CloseNow()
	msg, _ := json.Marshal(map[string]string{"type": "join", "room": "tls-test", "name": "Ann"})
	if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
		t.Fatal(err)
	}
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var reply struct{ Type, Room string }
	if err := json.Unmarshal(b, &reply); err != nil || reply.Type != "joined" || reply.Room != "tls-test" {
		t.Errorf("reply to join over wss: %s, want joined", b)
	}
	ws.Close(websocket.StatusNormalClosure, "")
	if ws, resp, err := dial("https://evil.example.com"); err == nil {
		ws.CloseNow()
		t.Error("wss from another site's origin was accepted")
	} else if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("wss from another site's origin: %v, want 403", err)
	}
}

// httpsClient trusts roots only, follows no redirect and offers HTTP/2.
func httpsClient(roots *x509.CertPool) *http.Client {
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true,
			DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// tlsServer is the server binary running with TLS, and what it printed.
type tlsServer struct {
	cmd                       *exec.Cmd
	https, plain, fingerprint string
	readDone                  chan struct{}
	stopped                   bool
}

var (
	openLine        = regexp.MustCompile(`^Open https://(\S+?)/ in a browser`)
	fingerprintLine = regexp.MustCompile(`^TLS certificate SHA-256 fingerprint: ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})$`)
	plainLine       = regexp.MustCompile(`^Plain HTTP on http://(\S+?)/ redirects to HTTPS`)
)

// startTLSServer starts bin on loopback with HTTP and HTTPS on free ports and args, and returns once it
// has printed its addresses and fingerprint and answers /healthz. The test's cleanup stops it.
func startTLSServer(t *testing.T, bin string, args ...string) *tlsServer {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-http", "127.0.0.1:0", "-https", "127.0.0.1:0", "-sip-port", "0", "-turn-port", "0", "-ice-tcp-port", "0",
		"-record-dir", filepath.Join(t.TempDir(), "recordings")}, args...)...)
	logPath := filepath.Join(t.TempDir(), "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &tlsServer{cmd: cmd, readDone: make(chan struct{})}
	t.Cleanup(func() { s.stop(t) })
	lines := make(chan string, 32)
	go func() {
		defer close(s.readDone)
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody reads any more
			}
		}
	}()
	timeout := time.After(30 * time.Second)
	for s.https == "" || s.plain == "" || s.fingerprint == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				log, _ := os.ReadFile(logPath)
				t.Fatalf("the server exited before printing its addresses; log:\n%s", log)
			}
			if m := openLine.FindStringSubmatch(l); m != nil {
				s.https = m[1]
			} else if m := fingerprintLine.FindStringSubmatch(l); m != nil {
				s.fingerprint = m[1]
			} else if m := plainLine.FindStringSubmatch(l); m != nil {
				s.plain = m[1]
			}
		case <-timeout:
			log, _ := os.ReadFile(logPath)
			t.Fatalf("the server printed no addresses and fingerprint in 30 s; log:\n%s", log)
		}
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := c.Get("http://" + s.plain + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("http://%s/healthz does not answer: %v", s.plain, err)
		}
	}
}

// stop ends the server with SIGTERM (SIGKILL after 10 s) and waits for it.
func (s *tlsServer) stop(t *testing.T) {
	if s.stopped {
		return
	}
	s.stopped = true
	s.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() {
		<-s.readDone // stdout reaches EOF when the process exits; Wait closes the pipe
		exited <- s.cmd.Wait()
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("server exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-exited
		t.Error("the server did not stop within 10 s of SIGTERM")
	}
}

// freeTCPAddr returns a loopback address whose port was free a moment ago.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeTestCertificate makes a CA and a server certificate it signs for 127.0.0.1 and localhost, writes
// the chain (leaf, then CA) and the key as PEM files into dir, and returns a pool with the CA, the two
// paths and the leaf's DER.
func writeTestCertificate(t *testing.T, dir string) (*x509.CertPool, string, string, []byte) {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	certPath, keyPath := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	if err := os.WriteFile(certPath, chain, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return roots, certPath, keyPath, der
}
