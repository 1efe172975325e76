package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/openmcu/mcu/signaling/auth"
)

// tokenCommand is `mcu token`: it prints a room access token signed with the first API key (from
// -api-keys, -api-keys-file, MCU_API_KEYS or MCU_API_KEYS_FILE) and the link that uses it. It returns the
// exit code.
func tokenCommand(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mcu token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	room := fs.String("room", "", "the room the token admits to (required)")
	identity := fs.String("identity", "", "who holds the token (required)")
	name := fs.String("name", "", "display name (default: the identity)")
	ttl := fs.Duration("ttl", 6*time.Hour, "how long the token is valid")
	viewer := fs.Bool("viewer", false, "watch only: no publishing, no chat; the link opens /watch/ROOM")
	hidden := fs.Bool("hidden", false, "with -viewer: not listed in the room (a recorder, a monitor)")
	admin := fs.Bool("admin", false, "also roomAdmin and roomRecord: mute and remove others, record, stream")
	base := fs.String("url", "http://localhost:8080", "the server's public address, for the link")
	keysFlag := fs.String("api-keys", getenv("MCU_API_KEYS"), "KEY:SECRET,... (env MCU_API_KEYS)")
	keysFile := fs.String("api-keys-file", getenv("MCU_API_KEYS_FILE"), "file of KEY: SECRET lines (env MCU_API_KEYS_FILE)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "mcu token: "+format+"\n", a...)
		return 2
	}
	if *room == "" || *identity == "" {
		return fail("-room and -identity are required")
	}
	if *ttl <= 0 {
		return fail("-ttl must be positive")
	}
	cfg := Config{APIKeys: *keysFlag, APIKeysFile: *keysFile}
	keys, err := cfg.keys()
	if err != nil {
		return fail("%v", err)
	}
	if len(keys) == 0 {
		return fail("no API key: give -api-keys KEY:SECRET or -api-keys-file, as the server has")
	}
	key := keys.Names()[0]
	if *keysFlag != "" { // the first key of the flag, as written
		key = strings.TrimSpace(strings.SplitN(strings.SplitN(*keysFlag, ",", 2)[0], ":", 2)[0])
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
	page := "room"
	if *viewer {
		page = "watch"
	}
	link := strings.TrimRight(*base, "/") + "/" + page + "/" + url.PathEscape(*room) + "?access_token=" + url.QueryEscape(tok)
	fmt.Fprintln(stdout, tok)
	fmt.Fprintln(stdout, link)
	return 0
}
