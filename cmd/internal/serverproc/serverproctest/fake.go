// Package serverproctest turns a test binary into a fake of the server binary, for tests of code that
// runs it through serverproc: the test passes os.Args[0] as Options.Bin and sets Env, and the child test
// process, seeing Env, plays the server instead of running the tests.
package serverproctest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Env is the environment variable that makes a test binary a fake server; its value (Serve, Crash,
// Mute or Stubborn) says how the fake behaves.
const Env = "SERVERPROC_FAKE"

// What the fake does, as the value of Env.
const (
	// Serve listens on -http (and -debug-addr when given), prints "Open http://ADDR/ in a browser" on
	// stdout and serves until SIGTERM, then exits 0.
	Serve = "serve"
	// Crash writes a line to stderr and exits with status 3 at once.
	Crash = "crash"
	// Mute serves like Serve but never prints its address.
	Mute = "mute"
	// Stubborn serves like Serve but ignores SIGTERM.
	Stubborn = "stubborn"
)

// Main makes this process the fake server when Env is set, and then never returns; otherwise it returns
// at once. Call it first in TestMain. The fake answers /healthz on its -http address, /debug/pprof/ on its
// -debug-addr, and hands every other request on -http to h (404 when h is nil). It writes
// "fake server args: ARGS" to stderr (the server's log), then the word "listening".
func Main(h http.Handler) {
	mode := os.Getenv(Env)
	if mode == "" {
		return
	}
	if mode == Crash {
		fmt.Fprintln(os.Stderr, "fake server: cannot start")
		os.Exit(3)
	}
	fmt.Fprintln(os.Stderr, "fake server args:", strings.Join(os.Args[1:], " "))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	if h == nil {
		h = http.NotFoundHandler()
	}
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	ln := listen(flagValue("-http"), mux)
	if debug := flagValue("-debug-addr"); debug != "" {
		pprof := http.NewServeMux()
		pprof.HandleFunc("/debug/pprof/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "profiles") })
		listen(debug, pprof)
	}
	fmt.Fprintln(os.Stderr, "listening")
	if mode != Mute {
		fmt.Printf("Open http://%s/ in a browser\n", ln.Addr())
	}
	for {
		<-sig
		if mode != Stubborn {
			os.Exit(0)
		}
	}
}

// flagValue returns the value that follows name on the command line, or "".
func flagValue(name string) string {
	for i, a := range os.Args {
		if a == name && i+1 < len(os.Args) {
			return os.Args[i+1]
		}
	}
	return ""
}

// listen serves h on addr, or exits with status 4.
func listen(addr string, h http.Handler) net.Listener {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake server:", err)
		os.Exit(4)
	}
	go func() { _ = http.Serve(ln, h) }()
	return ln
}
