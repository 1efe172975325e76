package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST API scheme (and coturn) specify
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Credentials returns TURN credentials for identity that expire ttl after now, in the TURN REST API scheme
// (draft-uberti-behave-turn-rest-00) that coturn implements as use-auth-secret/static-auth-secret:
//
//	username = "<expiry, unix seconds>:<identity>"
//	password = base64(HMAC-SHA1(secret, username))
//
// Any server sharing secret (this one, or coturn) accepts them until the expiry. identity is opaque to the
// server (it becomes the allocation's user ID); together with the expiry it must fit in a STUN USERNAME
// (513 bytes). It is safe for concurrent use.
func Credentials(secret, identity string, ttl time.Duration, now time.Time) (username, password string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + identity
	return username, restPassword(secret, username)
}

// restPassword is the TURN REST API password of username: base64(HMAC-SHA1(secret, username)).
func restPassword(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username)) // a hash.Hash never fails to write
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

var errBadUsername = errors.New("turn: username is not <expiry>:<identity>")

// parseUsername splits a TURN REST API username into its expiry (unix seconds: 1 to 19 decimal digits, no
// sign) and its identity (everything after the first colon; empty when there is none, as coturn allows).
func parseUsername(username string) (expiry int64, identity string, err error) {
	ts, identity, _ := strings.Cut(username, ":")
	if len(ts) == 0 || len(ts) > 19 {
		return 0, "", errBadUsername
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return 0, "", errBadUsername
		}
	}
	expiry, err = strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, "", errBadUsername
	}
	return expiry, identity, nil
}
