package main

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openmcu/mcu/signaling/auth"
)

func TestTokenCommand(t *testing.T) {
	secret := strings.Repeat("s", 40)
	keys := auth.Keys{"mykey": secret}
	env := map[string]string{"MCU_API_KEYS": "mykey:" + secret}
	getenv := func(k string) string { return env[k] }
	run := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := tokenCommand(args, getenv, &out, &errb)
		return out.String(), errb.String(), code
	}
	for _, c := range []struct {
		args         []string
		page         string
		need, refuse auth.Need
		hidden       bool
		name         string
	}{
		{[]string{"-room", "standup", "-identity", "ann", "-name", "Ann"}, "/room/standup", auth.NeedJoin | auth.NeedPublish | auth.NeedSubscribe | auth.NeedPublishData, auth.NeedAdmin, false, "Ann"},
		{[]string{"-room", "standup", "-identity", "tv", "-viewer"}, "/watch/standup", auth.NeedJoin | auth.NeedSubscribe, auth.NeedPublish, false, "tv"},
		{[]string{"-room", "standup", "-identity", "rec", "-viewer", "-hidden"}, "/watch/standup", auth.NeedSubscribe, auth.NeedPublishData, true, "rec"},
		{[]string{"-room", "standup", "-identity", "boss", "-admin", "-url", "https://mcu.example.org/"}, "https://mcu.example.org/room/standup", auth.NeedAdmin | auth.NeedRecord, 0, false, "boss"},
	} {
		out, errs, code := run(c.args...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 || len(lines) != 2 {
			t.Fatalf("%q: code %d, out %q, err %q", c.args, code, out, errs)
		}
		tok, link := lines[0], lines[1]
		claims, err := keys.Verify(tok, time.Now())
		if err != nil {
			t.Fatalf("%q: the token does not verify: %v", c.args, err)
		}
		if err := claims.Allow("standup", c.need); err != nil {
			t.Errorf("%q: %v", c.args, err)
		}
		if c.refuse != 0 && claims.Allow("standup", c.refuse) == nil {
			t.Errorf("%q: the token grants %b", c.args, c.refuse)
		}
		if claims.Video.Hidden != c.hidden || claims.Name != c.name || claims.Issuer != "mykey" {
			t.Errorf("%q: claims %+v %+v", c.args, claims, claims.Video)
		}
		u, err := url.Parse(link)
		if err != nil || !strings.HasSuffix(u.Scheme+"://"+u.Host+u.Path, c.page) || u.Query().Get("access_token") != tok {
			t.Errorf("%q: link %q, want %s?access_token=<the token>", c.args, link, c.page)
		}
		if exp := claims.ExpiresAt.Time; exp.Before(time.Now().Add(5*time.Hour)) || exp.After(time.Now().Add(7*time.Hour)) {
			t.Errorf("%q: expires %v, want in 6 h", c.args, exp)
		}
	}
	for _, args := range [][]string{{"-identity", "a"}, {"-room", "r"}, {"-room", "r", "-identity", "a", "-ttl", "-1h"},
		{"-room", "r", "-identity", "a", "-api-keys", "k:short"}} {
		if _, errs, code := run(args...); code == 0 || strings.Contains(errs, secret) {
			t.Errorf("%q: code %d, err %q", args, code, errs)
		}
	}
	env = nil
	if _, errs, code := run("-room", "r", "-identity", "a"); code == 0 || !strings.Contains(errs, "no API key") {
		t.Errorf("without keys: code %d, err %q", code, errs)
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
