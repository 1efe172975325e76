package main

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/signaling/auth"
)

// TestTokenCommand: `mcu token` prints a token that the server's keys verify, granting what its flags
// say, and the link that carries it; bad flags and keys fail without printing a secret.
func TestTokenCommand(t *testing.T) {
	secret, other := strings.Repeat("s", 40), strings.Repeat("o", 40)
	keys := auth.Keys{"mykey": secret, "zkey": other, "akey": other, "fz": other, "fa": secret}
	dir := t.TempDir()
	file := filepath.Join(dir, "keys.yaml")
	if err := os.WriteFile(file, []byte("# keys\nfz: "+other+"\nfa: "+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const all = auth.NeedJoin | auth.NeedPublish | auth.NeedSubscribe | auth.NeedPublishData
	for _, c := range []struct {
		name         string
		env          map[string]string
		args         []string
		link         string // without the query
		room         string
		need, refuse auth.Need
		hidden       bool
		display, iss string
	}{
		{"participant", nil, []string{"-room", "standup", "-identity", "ann", "-name", "Ann"},
			"http://localhost:8080/room/standup", "standup", all, auth.NeedAdmin, false, "Ann", "mykey"},
		{"viewer", nil, []string{"-room", "standup", "-identity", "tv", "-viewer"},
			"http://localhost:8080/watch/standup", "standup", auth.NeedJoin | auth.NeedSubscribe, auth.NeedPublish, false, "tv", "mykey"},
		{"viewer without data", nil, []string{"-room", "standup", "-identity", "tv", "-viewer"},
			"http://localhost:8080/watch/standup", "standup", auth.NeedSubscribe, auth.NeedPublishData, false, "tv", "mykey"},
		{"hidden viewer", nil, []string{"-room", "standup", "-identity", "rec", "-viewer", "-hidden"},
			"http://localhost:8080/watch/standup", "standup", auth.NeedSubscribe, auth.NeedPublishData, true, "rec", "mykey"},
		{"admin", nil, []string{"-room", "standup", "-identity", "boss", "-admin", "-url", "https://mcu.example.org/"},
			"https://mcu.example.org/room/standup", "standup", all | auth.NeedAdmin | auth.NeedRecord, 0, false, "boss", "mykey"},
		{"under a path, odd room", nil, []string{"-room", "a b/c?", "-identity", "ann", "-url", "https://example.org:8443/mcu"},
			"https://example.org:8443/mcu/room/a%20b%2Fc%3F", "a b/c?", all, auth.NeedAdmin, false, "ann", "mykey"},
		{"first key of the list signs", map[string]string{"MCU_API_KEYS": "zkey:" + other + ",akey:" + other}, []string{"-room", "r", "-identity", "a"},
			"http://localhost:8080/room/r", "r", all, 0, false, "a", "zkey"},
		{"the flag before the environment", nil, []string{"-api-keys", "akey:" + other, "-room", "r", "-identity", "a"},
			"http://localhost:8080/room/r", "r", all, 0, false, "a", "akey"},
		{"first key of the file signs", map[string]string{"MCU_API_KEYS_FILE": file}, []string{"-room", "r", "-identity", "a"},
			"http://localhost:8080/room/r", "r", all, 0, false, "a", "fz"},
		{"the list before the file", nil, []string{"-api-keys-file", file, "-room", "r", "-identity", "a"},
			"http://localhost:8080/room/r", "r", all, 0, false, "a", "mykey"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := c.env
			if env == nil {
				env = map[string]string{"MCU_API_KEYS": "mykey:" + secret}
			}
			var out, errb bytes.Buffer
			code := tokenCommand(c.args, func(k string) string { return env[k] }, &out, &errb)
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if code != 0 || len(lines) != 2 {
				t.Fatalf("%q: code %d, out %q, err %q", c.args, code, out.String(), errb.String())
			}
			tok, link := lines[0], lines[1]
			claims, err := keys.Verify(tok, time.Now())
			if err != nil {
				t.Fatalf("%q: the token does not verify: %v", c.args, err)
			}
			if err := claims.Allow(c.room, c.need); err != nil {
				t.Errorf("%q: Allow(%q, %b): %v", c.args, c.room, c.need, err)
			}
			if c.refuse != 0 && claims.Allow(c.room, c.refuse) == nil {
				t.Errorf("%q: the token grants %b", c.args, c.refuse)
			}
			if claims.Allow("other", auth.NeedJoin) == nil {
				t.Errorf("%q: the token admits to another room", c.args)
			}
			if claims.Video.Hidden != c.hidden || claims.Name != c.display || claims.Identity() != c.args[slices.Index(c.args, "-identity")+1] || claims.Issuer != c.iss {
				t.Errorf("%q: claims %+v %+v", c.args, claims, claims.Video)
			}
			if !strings.HasPrefix(link, c.link+"?") {
				t.Errorf("%q: link %q, want %s?access_token=<the token>", c.args, link, c.link)
			} else if u, err := url.Parse(link); err != nil || u.Query().Get("access_token") != tok {
				t.Errorf("%q: link %q does not carry the token (%v)", c.args, link, err)
			}
			if exp := claims.ExpiresAt.Time; exp.Before(time.Now().Add(6*time.Hour-time.Minute)) || exp.After(time.Now().Add(6*time.Hour+time.Minute)) {
				t.Errorf("%q: expires %v, want in 6 h", c.args, exp)
			}
		})
	}
	for _, c := range []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{[]string{"-identity", "a"}, nil, 2, "required"},
		{[]string{"-room", "r"}, nil, 2, "required"},
		{[]string{"-room", "r", "-identity", "a", "-ttl", "-1h"}, nil, 2, "-ttl"},
		{[]string{"-room", "r", "-identity", "a", "-hidden"}, nil, 2, "-hidden needs -viewer"},
		{[]string{"-room", "r", "-identity", "a", "-url", "localhost:8080"}, nil, 2, "-url"},
		{[]string{"-room", "r", "-identity", "a", "-url", "ftp://h/"}, nil, 2, "-url"},
		{[]string{"-room", "r", "-identity", "a", "extra"}, nil, 2, "unexpected argument"},
		{[]string{"-room", "r", "-identity", "a", "-nosuchflag"}, nil, 2, "nosuchflag"},
		{[]string{"-room", "r", "-identity", "a", "-api-keys", "k:short"}, nil, 2, "at least 32"},
		{[]string{"-room", "r", "-identity", "a", "-api-keys", "mykey:" + secret, "-api-keys-file", file + ".missing"}, nil, 2, "api keys file"},
		{[]string{"-room", "r", "-identity", "a"}, map[string]string{"MCU_API_KEYS": "fz:" + secret, "MCU_API_KEYS_FILE": file}, 2, "given twice"},
		{[]string{"-room", "r", "-identity", "a"}, map[string]string{}, 2, "no API key"},
		{[]string{"-help"}, nil, 0, "usage: mcu token"},
	} {
		env := c.env
		if env == nil {
			env = map[string]string{"MCU_API_KEYS": "mykey:" + secret}
		}
		var out, errb bytes.Buffer
		code := tokenCommand(c.args, func(k string) string { return env[k] }, &out, &errb)
		if code != c.code || out.Len() != 0 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%q: code %d, out %q, err %q; want code %d, %q", c.args, code, out.String(), errb.String(), c.code, c.want)
		}
		if s := out.String() + errb.String(); strings.Contains(s, secret) || strings.Contains(s, other) {
			t.Errorf("%q: a secret printed: %q", c.args, s)
		}
	}
}

// TestSIPRequiresAuthWithKeys: with room access tokens on, SIP callers need digest credentials or a
// trusted network (-sip-trusted); without keys SIP stays as configured.
func TestSIPRequiresAuthWithKeys(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	cfg, err := loadConfig([]string{"-sip-trusted", "192.0.2.0/24,198.51.100.7", "-sip-max-calls", "50", "-sip-invite-rate", "2"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.sipConfig(); s.RequireAuth || len(s.Trusted) != 2 || s.MaxCalls != 50 || s.InviteRate != 2 || s.InviteBurst != 4 {
		t.Errorf("without keys: %+v", s)
	}
	env["MCU_API_KEYS"] = "k:" + strings.Repeat("s", 32)
	cfg, err = loadConfig(nil, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.sipConfig().RequireAuth {
		t.Error("with keys, SIP does not require authentication")
	}
	if _, err := loadConfig([]string{"-sip-trusted", "not-a-network"}, getenv); err == nil {
		t.Error("a bad -sip-trusted was accepted")
	}
}
