package sip

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

func md5Hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// clientResponse computes a digest response as a client does (RFC 2617, qop=auth).
func clientResponse(user, realm, pass, method, uri, nonce, nc, cnonce string) string {
	ha1 := md5Hex(user + ":" + realm + ":" + pass)
	ha2 := md5Hex(method + ":" + uri)
	return md5Hex(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2)
}

func TestDigestAuth(t *testing.T) {
	a, err := newDigestAuth("mcu", map[string]string{"alice": "secret"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	a.now = func() time.Time { return now }
	ch, err := digest.ParseChallenge(a.challenge(false))
	if err != nil || ch.Realm != "mcu" || !ch.SupportsQOP("auth") || ch.Algorithm != "MD5" || len(ch.Nonce) != 48 || ch.Stale {
		t.Fatalf("challenge %q parsed to %+v, %v", a.challenge(false), ch, err)
	}
	nonce := ch.Nonce
	uri := "sip:r@127.0.0.1"
	cred := func(user, pass, nonce string) string {
		return `Digest username="` + user + `", realm="mcu", nonce="` + nonce + `", uri="` + uri +
			`", response="` + clientResponse(user, "mcu", pass, "INVITE", uri, nonce, "00000001", "abc") +
			`", algorithm=MD5, cnonce="abc", qop=auth, nc=00000001`
	}
	legacy := `Digest username="alice", realm="mcu", nonce="` + nonce + `", uri="` + uri + `", response="` +
		md5Hex(md5Hex("alice:mcu:secret")+":"+nonce+":"+md5Hex("INVITE:"+uri)) + `"`
	forged := nonce[:47] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", nonce[47])+1)%16])
	tests := []struct {
		name    string
		headers []string
		want    authResult
	}{
		{"none", nil, authMissing},
		{"other realm", []string{strings.Replace(cred("alice", "secret", nonce), `realm="mcu"`, `realm="x"`, 1)}, authMissing},
		{"not digest", []string{"Basic YWxpY2U6c2VjcmV0"}, authMissing},
		{"good", []string{cred("alice", "secret", nonce)}, authOK},
		{"good without qop", []string{legacy}, authOK},
		{"wrong password", []string{cred("alice", "wrong", nonce)}, authFailed},
		{"unknown user", []string{cred("bob", "secret", nonce)}, authFailed},
		{"forged nonce", []string{cred("alice", "secret", forged)}, authFailed},
		{"no response", []string{strings.Replace(cred("alice", "secret", nonce), "response=", "x=", 1)}, authFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := a.check("INVITE", tt.headers); got != tt.want {
				t.Errorf("check(%q) = %d, want %d", tt.headers, got, tt.want)
			}
		})
	}
	// The response covers the method: INVITE credentials do not authenticate a BYE.
	if got, _ := a.check("BYE", []string{cred("alice", "secret", nonce)}); got != authFailed {
		t.Errorf("check of INVITE credentials for a BYE = %d, want failed", got)
	}
	now = now.Add(nonceLifetime + time.Second)
	if got, _ := a.check("INVITE", []string{cred("alice", "secret", nonce)}); got != authStale {
		t.Errorf("check with an expired nonce = %d, want stale", got)
	}
	if ch, err := digest.ParseChallenge(a.challenge(true)); err != nil || !ch.Stale {
		t.Errorf("stale challenge %q parsed to %+v, %v; want stale", a.challenge(true), ch, err)
	}
}

func FuzzDigestHeader(f *testing.F) {
	f.Add(`Digest username="a\"b", realm=mcu, nonce="x", uri="sip:r@h", response="00", qop=auth, nc=1, cnonce=""`)
	f.Add(`Digest ,,,=,"`)
	a, err := newDigestAuth("mcu", map[string]string{"a": "b"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if got, _ := a.check("INVITE", []string{h}); got == authOK {
			t.Fatalf("check(%q) accepted forged credentials", h)
		}
	})
}
