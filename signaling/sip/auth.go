package sip

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/icholy/digest"
)

// Digest authentication of callers (RFC 3261 22.4 with RFC 2617's MD5 digest, qop "auth" or none). The
// nonces are stateless: a timestamp and its HMAC under a per-server random key, valid for nonceLifetime;
// an expired one gets a new challenge with stale=true. Nonce counts are not tracked, so a captured
// INVITE can be replayed while its nonce lives (the same as most SIP servers).

const nonceLifetime = 5 * time.Minute

// authResult is the outcome of checking a request's credentials.
type authResult int

const (
	authOK      authResult = iota
	authMissing            // no credentials for our realm: challenge
	authStale              // good credentials with an expired nonce: challenge with stale=true
	authFailed             // wrong user, password or nonce: refuse (403)
)

// digestAuth checks credentials. It is immutable after newDigestAuth and safe for concurrent use.
type digestAuth struct {
	realm string
	users map[string]string
	key   [32]byte
	now   func() time.Time
}

func newDigestAuth(realm string, users map[string]string) (*digestAuth, error) {
	a := &digestAuth{realm: realm, users: make(map[string]string, len(users)), now: time.Now}
	for u, p := range users {
		a.users[u] = p
	}
	if _, err := rand.Read(a.key[:]); err != nil {
		return nil, fmt.Errorf("nonce key: %w", err)
	}
	return a, nil
}

func (a *digestAuth) nonceAt(t time.Time) string {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(t.Unix()))
	m := hmac.New(sha256.New, a.key[:])
	m.Write(ts[:])
	return hex.EncodeToString(ts[:]) + hex.EncodeToString(m.Sum(nil)[:16])
}

// nonceValid reports whether nonce is one of ours (ok) and whether it is still fresh.
func (a *digestAuth) nonceValid(nonce string) (ok, fresh bool) {
	if len(nonce) != 48 {
		return false, false
	}
	ts, err := hex.DecodeString(nonce[:16])
	if err != nil {
		return false, false
	}
	t := time.Unix(int64(binary.BigEndian.Uint64(ts)), 0)
	if !hmac.Equal([]byte(a.nonceAt(t)), []byte(nonce)) {
		return false, false
	}
	age := a.now().Sub(t)
	return true, age >= -time.Minute && age <= nonceLifetime
}

// challenge is the WWW-Authenticate header value.
func (a *digestAuth) challenge(stale bool) string {
	c := digest.Challenge{Realm: a.realm, Nonce: a.nonceAt(a.now()), Algorithm: "MD5", QOP: []string{"auth"}, Stale: stale}
	return c.String()
}

// check verifies the Authorization header values of a request with the given method. Parsing and the
// response's computation are github.com/icholy/digest's (sipgo's own digest client).
func (a *digestAuth) check(method string, headers []string) (authResult, string) {
	for _, h := range headers {
		cred, err := digest.ParseCredentials(h)
		if err != nil || cred.Realm != a.realm {
			continue
		}
		user := cred.Username
		pass, known := a.users[user]
		nonceOK, fresh := a.nonceValid(cred.Nonce)
		if !known || !nonceOK || cred.URI == "" || cred.Userhash {
			return authFailed, user
		}
		if cred.Algorithm != "" && !strings.EqualFold(cred.Algorithm, "MD5") {
			return authFailed, user
		}
		chal := &digest.Challenge{Realm: a.realm, Nonce: cred.Nonce, Algorithm: "MD5"}
		switch cred.QOP {
		case "":
		case "auth":
			if cred.Nc == 0 || cred.Cnonce == "" {
				return authFailed, user
			}
			chal.QOP = []string{"auth"}
		default:
			return authFailed, user
		}
		want, err := digest.Digest(chal, digest.Options{Method: method, URI: cred.URI, Username: user, Password: pass,
			Cnonce: cred.Cnonce, Count: cred.Nc})
		if err != nil || subtle.ConstantTimeCompare([]byte(want.Response), []byte(strings.ToLower(cred.Response))) != 1 {
			return authFailed, user
		}
		if !fresh {
			return authStale, user
		}
		return authOK, user
	}
	return authMissing, ""
}
