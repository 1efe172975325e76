package sip

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
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
	s := fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=MD5, qop="auth"`, a.realm, a.nonceAt(a.now()))
	if stale {
		s += ", stale=true"
	}
	return s
}

// check verifies the Authorization header values of a request with the given method.
func (a *digestAuth) check(method string, headers []string) (authResult, string) {
	result, user := authMissing, ""
	for _, h := range headers {
		p, ok := parseDigest(h)
		if !ok || p["realm"] != a.realm {
			continue
		}
		user = p["username"]
		pass, known := a.users[user]
		nonceOK, fresh := a.nonceValid(p["nonce"])
		if !known || !nonceOK || p["uri"] == "" {
			return authFailed, user
		}
		if alg := p["algorithm"]; alg != "" && !strings.EqualFold(alg, "MD5") {
			return authFailed, user
		}
		ha1 := md5Hex(user + ":" + a.realm + ":" + pass)
		ha2 := md5Hex(method + ":" + p["uri"])
		var want string
		switch p["qop"] {
		case "":
			want = md5Hex(ha1 + ":" + p["nonce"] + ":" + ha2)
		case "auth":
			if p["nc"] == "" || p["cnonce"] == "" {
				return authFailed, user
			}
			want = md5Hex(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
		default:
			return authFailed, user
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(p["response"]))) != 1 {
			return authFailed, user
		}
		if !fresh {
			return authStale, user
		}
		return authOK, user
	}
	return result, user
}

func md5Hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// parseDigest splits `Digest k=v, k="v", …` into its parameters (lower-case names, unquoted values). It
// never panics; ok is false when h is not a Digest header.
func parseDigest(h string) (map[string]string, bool) {
	h = strings.TrimSpace(h)
	scheme, rest, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Digest") {
		return nil, false
	}
	p := make(map[string]string)
	for len(rest) > 0 && len(p) < 32 {
		rest = strings.TrimLeft(rest, " \t,")
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			break
		}
		key := strings.ToLower(strings.TrimSpace(rest[:eq]))
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				b.WriteByte(rest[i])
			}
			val = b.String()
			rest = rest[min(i+1, len(rest)):]
		} else {
			end := strings.IndexByte(rest, ',')
			if end < 0 {
				end = len(rest)
			}
			val = strings.TrimSpace(rest[:end])
			rest = rest[end:]
		}
		p[key] = val
	}
	return p, true
}
