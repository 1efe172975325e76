package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// HTTPS. With -tls-cert and -tls-key, or -tls-self-signed, every endpoint (the page, /ws, WHIP and WHEP,
// /files/, the API, /metrics unless -metrics-addr moves it) is served over HTTPS on -https, and the plain
// -http listener redirects to it, but for GET /healthz (load balancers probe it over plain HTTP).
// Browsers give a page camera and microphone only on localhost or over HTTPS, so this is what lets other
// machines join without a reverse proxy in front.

// Files of the self-signed certificate in -tls-dir.
const (
	selfSignedCertFile = "self-signed-cert.pem"
	selfSignedKeyFile  = "self-signed-key.pem"
	// selfSignedValidity is how long a new self-signed certificate is valid.
	selfSignedValidity = 365 * 24 * time.Hour
	// selfSignedRenewBefore: a kept certificate that expires sooner is replaced at start, so it does not
	// expire under a running server.
	selfSignedRenewBefore = 7 * 24 * time.Hour
)

// hstsHeader is sent on HTTPS responses with a real certificate: a day, no subdomains. Long enough that
// a browser that came back keeps to HTTPS; short enough that a server moved back to plain HTTP (or behind
// another name) is reachable again the next day. HSTS binds the whole host, every port: browsers will also
// upgrade http://HOST/ on port 80 to https://HOST/ while it lasts.
const hstsHeader = "max-age=86400"

// tlsOn reports whether HTTPS is configured.
func (c Config) tlsOn() bool { return c.TLSCert != "" || c.TLSKey != "" || c.TLSSelfSigned }

// validateTLS refuses the TLS settings that cannot work together.
func (c Config) validateTLS() error {
	switch {
	case c.TLSSelfSigned && (c.TLSCert != "" || c.TLSKey != ""):
		return errors.New("-tls-self-signed and -tls-cert/-tls-key exclude each other: use one or the other")
	case c.TLSCert != "" && c.TLSKey == "":
		return errors.New("-tls-cert needs -tls-key (the certificate's private key)")
	case c.TLSKey != "" && c.TLSCert == "":
		return errors.New("-tls-key needs -tls-cert (the certificate of the key)")
	case c.tlsOn() && c.HTTPS == "":
		return errors.New("https address is empty")
	case c.TLSSelfSigned && c.TLSDir == "":
		return errors.New("tls dir is empty (-tls-self-signed keeps its certificate there)")
	}
	return nil
}

// tlsSettings are the HTTPS knobs that take a value; boolSettings has -tls-self-signed.
func (c *Config) tlsSettings() []setting {
	return []setting{
		strSetting("https", "HTTPS listen address when TLS is on (-tls-cert and -tls-key, or -tls-self-signed)", &c.HTTPS),
		strSetting("tls-cert", "certificate chain (PEM file) to serve HTTPS with, e.g. Let's Encrypt's fullchain.pem; needs -tls-key", &c.TLSCert),
		strSetting("tls-key", "private key (PEM file) of -tls-cert", &c.TLSKey),
		strSetting("tls-dir", "directory where -tls-self-signed keeps its certificate and key (created 0700)", &c.TLSDir),
	}
}

// boolSettings are the knobs that are boolean flags: -NAME alone means true (the other booleans, such
// as -include-loopback, take a value).
func (c *Config) boolSettings() []setting {
	return []setting{{"tls-self-signed", "serve HTTPS with a self-signed certificate (made once, kept in -tls-dir) for a trial on a LAN",
		func(v string) error {
			b, err := strconv.ParseBool(v)
			c.TLSSelfSigned = b
			return err
		}, func() string { return strconv.FormatBool(c.TLSSelfSigned) }},
		{"measure-psnr", "measure the luma PSNR of every encoded H.264 picture (metric mcu_video_encode_psnr_db); costs a little CPU",
			func(v string) error {
				b, err := strconv.ParseBool(v)
				c.MCU.MeasurePSNR = b
				return err
			}, func() string { return strconv.FormatBool(c.MCU.MeasurePSNR) }}}
}

// boolFlag is a flag.Value for a boolSettings knob: it keeps the text for the setting to parse.
type boolFlag struct{ p *string }

func (b boolFlag) String() string {
	if b.p == nil {
		return ""
	}
	return *b.p
}

func (b boolFlag) Set(v string) error { *b.p = v; return nil }

func (b boolFlag) IsBoolFlag() bool { return true }

// loadTLS returns the HTTPS configuration, or nil when TLS is off: the certificate of -tls-cert and
// -tls-key, or the self-signed one of -tls-dir (made or renewed as needed), and its SHA-256
// fingerprint, colon-separated upper-case hex as browsers show it.
//
// The tls.Config asks for TLS 1.2 at least and hands out the certificate through GetCertificate (which
// returns it, with its parsed Leaf, whatever the hello), so that a reload can swap it later; it has no
// NextProtos, so another server can share it: serveTLS adds h2 and http/1.1 to a Clone, and TURN over
// TLS would Clone it too. It is not modified after loadTLS returns and is safe for concurrent use.
func loadTLS(cfg Config, log *slog.Logger) (*tls.Config, string, error) {
	if !cfg.tlsOn() {
		return nil, "", nil
	}
	var cert tls.Certificate
	if cfg.TLSSelfSigned {
		names, ips := hostIdentities()
		c, fresh, err := selfSignedCert(cfg.TLSDir, names, ips, time.Now())
		if err != nil {
			return nil, "", fmt.Errorf("self-signed certificate in %s: %w", cfg.TLSDir, err)
		}
		if fresh {
			log.Info("made a self-signed certificate", "dir", cfg.TLSDir, "dns", c.Leaf.DNSNames, "ips", c.Leaf.IPAddresses)
		}
		cert = c
	} else {
		c, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, "", fmt.Errorf("load -tls-cert %s and -tls-key %s: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		if c.Leaf == nil {
			if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
				return nil, "", fmt.Errorf("parse -tls-cert %s: %w", cfg.TLSCert, err)
			}
		}
		cert = c
	}
	leaf := cert.Leaf
	fp := fingerprint(leaf.Raw)
	log.Info("tls certificate", "fingerprint", fp, "self_signed", cfg.TLSSelfSigned, "subject", leaf.Subject.String(),
		"dns", leaf.DNSNames, "ips", leaf.IPAddresses, "not_after", leaf.NotAfter)
	if now := time.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		log.Error("the tls certificate is not valid now: browsers will refuse it", "not_before", leaf.NotBefore,
			"not_after", leaf.NotAfter)
	}
	tc := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil },
	}
	return tc, fp, nil
}

// fingerprint is the SHA-256 of a certificate's DER, as browsers show it: AB:CD:....
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// hostIdentities are what a self-signed certificate covers: localhost, the host name (and NAME.local, its
// mDNS name on most LANs), the loopback addresses and every other address of the interfaces but link-local
// ones (they need a zone in a URL, and virtual interfaces bring new ones every time they come up).
func hostIdentities() (names []string, ips []net.IP) {
	names = []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "localhost" && validHostName(h) {
		names = append(names, h)
		if !strings.Contains(h, ".") {
			names = append(names, h+".local")
		}
	}
	ips = []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
	addrs, _ := net.InterfaceAddrs() // none: the loopback addresses only
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() || n.IP.IsUnspecified() {
			continue
		}
		ip := n.IP
		if ip4 := ip.To4(); ip4 != nil {
			ip = ip4
		}
		ips = append(ips, ip)
	}
	return names, ips
}

// validHostName reports whether h can be a DNS name in a certificate: letters, digits, '-', '_' and '.'.
func validHostName(h string) bool {
	return h != "" && !strings.ContainsFunc(h, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	})
}

// selfSignedCert returns the certificate kept in dir when it is valid at now for another
// selfSignedRenewBefore and covers names and ips, so that people accept the browser's warning once.
// Otherwise it makes a new one (ECDSA P-256, valid selfSignedValidity) for names and ips, plus the
// addresses the kept one still covered when it was only missing an address (a laptop moving between two
// networks then gets a new certificate, and a new warning, once rather than at every move), writes it
// into dir (created 0700; the key 0600) and returns it with fresh set. The certificate's Leaf is set.
func selfSignedCert(dir string, names []string, ips []net.IP, now time.Time) (cert tls.Certificate, fresh bool, err error) {
	certPath, keyPath := filepath.Join(dir, selfSignedCertFile), filepath.Join(dir, selfSignedKeyFile)
	if old, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		leaf, err := x509.ParseCertificate(old.Certificate[0])
		if err == nil && !now.Before(leaf.NotBefore) && now.Add(selfSignedRenewBefore).Before(leaf.NotAfter) {
			if covers(leaf, names, ips) {
				old.Leaf = leaf
				return old, false, nil
			}
			for _, ip := range leaf.IPAddresses {
				if !slices.ContainsFunc(ips, ip.Equal) {
					ips = append(ips, ip)
				}
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return cert, false, err
	}
	certPEM, keyPEM, err := newSelfSigned(names, ips, now)
	if err != nil {
		return cert, false, err
	}
	// The key first: a crash between the two leaves a pair that does not match, which is remade.
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return cert, false, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return cert, false, err
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return cert, false, err
	}
	cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0])
	return cert, true, err
}

// covers reports whether leaf is valid for every one of names and ips.
func covers(leaf *x509.Certificate, names []string, ips []net.IP) bool {
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// newSelfSigned makes a self-signed server certificate for names and ips, valid from an hour before now
// (clocks differ) for selfSignedValidity, and returns it and its key (PKCS #8) in PEM.
func newSelfSigned(names []string, ips []net.IP, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	cn := "openmcu"
	if len(names) > 1 {
		cn = "openmcu on " + names[1] // names[0] is localhost
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"openmcu self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), nil
}

// writeFileAtomic writes data to path with perm through a temporary file in the same directory, so that
// path never holds half a file and a key is never readable by others, even for a moment.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*") // created 0600
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename: nothing to remove
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// serveTLS serves h over HTTPS on cfg.HTTPS with tc, and on ln (-http) redirects to it, until ctx is
// cancelled or either server fails; then it shuts both down. It owns ln. It prints the address to open
// and the certificate's fingerprint.
func serveTLS(ctx context.Context, cfg Config, ln net.Listener, tc *tls.Config, fp string, h http.Handler, log *slog.Logger) error {
	tln, err := net.Listen("tcp", cfg.HTTPS)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen on %s: %w", cfg.HTTPS, err)
	}
	_, port, _ := net.SplitHostPort(tln.Addr().String())
	if !cfg.TLSSelfSigned {
		// Not with a self-signed certificate: browsers ignore HSTS over a connection whose certificate
		// they do not trust (RFC 6797 8.1), so it would protect nobody who clicked through the warning;
		// and for whoever did trust it (installed it on a phone, say) it would lock them out once it is
		// remade (a new address, expiry, a cleared -tls-dir): under HSTS, browsers show the certificate
		// error without the button to proceed anyway (RFC 6797 12.1), for the rest of max-age.
		h = withHSTS(h)
	}
	serverTLS := tc.Clone()
	serverTLS.NextProtos = []string{"h2", "http/1.1"} // WebSockets use HTTP/1.1 (no RFC 8441 in net/http by default)

	var leaf *x509.Certificate
	if c, err := tc.GetCertificate(&tls.ClientHelloInfo{}); err == nil && c != nil {
		leaf = c.Leaf
	}
	open, others := displayAddr(tln.Addr()), ""
	if tcp, ok := tln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		switch {
		case cfg.TLSSelfSigned:
			if ip := outboundIP(); ip != "localhost" {
				others = " (from other machines: https://" + net.JoinHostPort(ip, port) + "/)"
			}
		case leaf != nil && len(leaf.DNSNames) > 0 && !strings.HasPrefix(leaf.DNSNames[0], "*"):
			open = net.JoinHostPort(leaf.DNSNames[0], port) // localhost is not in a real certificate
		}
	}
	log.Info("listening", "addr", tln.Addr().String(), "tls", true, "fingerprint", fp)
	log.Info("redirecting to https", "addr", ln.Addr().String())
	fmt.Printf("Open https://%s/ in a browser%s\n", open, others)
	fmt.Printf("TLS certificate SHA-256 fingerprint: %s\n", fp)
	if cfg.TLSSelfSigned {
		fmt.Println("(self-signed: browsers warn once; check that the fingerprint they show is this one)")
	}
	fmt.Printf("Plain HTTP on http://%s/ redirects to HTTPS\n", displayAddr(ln.Addr()))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- serve(ctx, ln, redirectToHTTPS(port), log) }()
	go func() { errc <- serve(ctx, tls.NewListener(tln, serverTLS), h, log) }()
	err = <-errc
	cancel() // the other one shuts down
	return errors.Join(err, <-errc)
}

// withHSTS adds Strict-Transport-Security to every response sent over TLS.
func withHSTS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", hstsHeader)
		}
		h.ServeHTTP(w, r)
	})
}

// redirectToHTTPS is the plain HTTP listener's handler with TLS on: GET (and HEAD) /healthz answers ok;
// every other request gets 308 (the method and body are kept) to the same path and query on
// https://HOST:port, HOST from the request's Host header (port 443 is left out).
func redirectToHTTPS(port string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			healthz(w, r)
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		} else {
			host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		}
		if host == "" {
			http.Error(w, "missing Host header", http.StatusBadRequest)
			return
		}
		hostPort := net.JoinHostPort(host, port)
		if port == "443" {
			hostPort = strings.TrimSuffix(hostPort, ":443")
		}
		path := r.URL.RequestURI()
		if !strings.HasPrefix(path, "/") { // OPTIONS *
			path = "/"
		}
		http.Redirect(w, r, "https://"+hostPort+path, http.StatusPermanentRedirect)
	})
}

// outboundIP is the address this machine reaches the world from (the routing table's source address for
// a public destination), or localhost when it has none.
func outboundIP() string {
	// A UDP "connection" sends nothing: it only asks the routing table for the source address.
	conn, err := net.Dial("udp4", "192.0.2.1:9")
	if err != nil {
		return "localhost"
	}
	defer conn.Close()
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		return a.IP.String()
	}
	return "localhost"
}
