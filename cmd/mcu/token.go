package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/openmcu/mcu/signaling/auth"
)

// tokenCommand is `mcu token`: it prints a room access token signed with the first API key (of
// -api-keys or MCU_API_KEYS, else of -api-keys-file or MCU_API_KEYS_FILE) and, on the next line, the
// link that uses it (/room/ROOM, or /watch/ROOM with -viewer). It returns the exit code: 0, or 2 for a
// usage or key error, told on stderr. The secrets are never printed.
func tokenCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mcu token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mcu token -room ROOM -identity ID [-name NAME] [-ttl 6h] [-viewer [-hidden]] [-admin] [-url URL]")
		fmt.Fprintln(stderr, "prints a room access token and the link that uses it")
		fs.PrintDefaults()
	}
	room := fs.String("room", "", "the room the token admits to (required)")
	identity := fs.String("identity", "", "who holds the token (required)")
	name := fs.String("name", "", "display name (default: the identity)")
	ttl := fs.Duration("ttl", 6*time.Hour, "how long the token is valid")
	viewer := fs.Bool("viewer", false, "watch only: no publishing, no chat; the link opens /watch/ROOM")
	hidden := fs.Bool("hidden", false, "with -viewer: not listed in the room (a recorder, a monitor)")
	admin := fs.Bool("admin", false, "also roomAdmin and roomRecord: mute and remove others, record, stream")
	base := fs.String("url", "http://localhost:8080", "the server's public address, for the link")
	// No defaults from the environment: -help would print the secrets.
	keysFlag := fs.String("api-keys", "", "KEY:SECRET,...; the first signs (default: env MCU_API_KEYS)")
	keysFile := fs.String("api-keys-file", "", "file of KEY: SECRET lines (default: env MCU_API_KEYS_FILE)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	if *keysFlag == "" {
		*keysFlag = getenv("MCU_API_KEYS")
	}
	if *keysFile == "" {
		*keysFile = getenv("MCU_API_KEYS_FILE")
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "mcu token: "+format+"\n", a...)
		return 2
	}
	u, err := url.Parse(*base)
	switch {
	case fs.NArg() > 0:
		return fail("unexpected argument %q", fs.Arg(0))
	case *room == "" || *identity == "":
		return fail("-room and -identity are required")
	case *ttl <= 0:
		return fail("-ttl must be positive")
	case *hidden && !*viewer:
		return fail("-hidden needs -viewer")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return fail("-url %q: want http(s)://HOST[:PORT][/PATH]", *base)
	}
	keys, key, err := auth.LoadKeys(*keysFlag, *keysFile)
	if err != nil {
		return fail("%v", err)
	}
	if key == "" {
		return fail("no API key: give -api-keys KEY:SECRET or -api-keys-file, as the server has")
	}
	grant := auth.VideoGrant{Room: *room, RoomJoin: true, RoomAdmin: *admin, RoomRecord: *admin}
	if *viewer {
		no := false
		grant.CanPublish, grant.CanPublishData = &no, &no
		grant.Hidden = *hidden
	}
	c := auth.Claims{Name: *name, Video: &grant}
	if c.Name == "" {
		c.Name = *identity
	}
	c.Subject = *identity
	tok, err := keys.Sign(key, c, time.Now(), *ttl)
	if err != nil {
		return fail("%v", err)
	}
	page := "/room/"
	if *viewer {
		page = "/watch/"
	}
	fmt.Fprintln(stdout, tok)
	fmt.Fprintln(stdout, strings.TrimRight(*base, "/")+page+url.PathEscape(*room)+"?access_token="+url.QueryEscape(tok))
	return 0
}
