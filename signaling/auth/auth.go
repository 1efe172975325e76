// Package auth checks the signed room access tokens of the server's entry points (the page's WebSocket,
// WHIP, WHEP and /watch, the operators' API). Tokens are JWTs signed with HS256 and shaped like
// LiveKit's, so LiveKit's token tools and SDKs can mint them: "iss" is the API key (which selects the
// secret), "sub" the participant's identity, "name" its display name, "nbf" and "exp" its validity, and
// "video" the grant: which room, and what the holder may do there.
//
// Verify checks a token's signature and validity, Claims.Allow what it grants; Authorizer puts the two
// together for the entry points, with the HTTP status of a refusal. Nothing here keeps state between
// calls: everything is safe for concurrent use as long as the Keys are not modified.
package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors of Verify and Claims.Allow. Check them with errors.Is.
var (
	// ErrNoToken: the request carries no token.
	ErrNoToken = errors.New("auth: no access token")
	// ErrMalformed: the token is not a JWT, its claims do not decode, or it has no exp.
	ErrMalformed = errors.New("auth: malformed access token")
	// ErrUnknownKey: the token's issuer is not a configured API key.
	ErrUnknownKey = errors.New("auth: unknown api key")
	// ErrBadSignature: the signature does not verify, or the algorithm is not HS256.
	ErrBadSignature = errors.New("auth: bad token signature")
	// ErrExpired: the token's exp has passed ("this link has expired").
	ErrExpired = errors.New("auth: access token expired")
	// ErrNotYetValid: the token's nbf is still ahead.
	ErrNotYetValid = errors.New("auth: access token not valid yet")
	// ErrWrongRoom: the token is for another room.
	ErrWrongRoom = errors.New("auth: access token is for another room")
	// ErrMissingGrant: the token does not grant what the request needs.
	ErrMissingGrant = errors.New("auth: access token lacks a grant")
)

// Leeway is the clock skew tolerated on exp and nbf.
const Leeway = 10 * time.Second

// VideoGrant is the "video" claim: LiveKit's grant, with the fields this server uses (others are
// ignored). The *bool fields are true when absent, as in LiveKit: use the Can... methods to read them.
// Plain data: safe for concurrent reads.
type VideoGrant struct {
	Room           string `json:"room,omitempty"`
	RoomJoin       bool   `json:"roomJoin,omitempty"`
	RoomAdmin      bool   `json:"roomAdmin,omitempty"`
	RoomRecord     bool   `json:"roomRecord,omitempty"`
	RoomCreate     bool   `json:"roomCreate,omitempty"`
	RoomList       bool   `json:"roomList,omitempty"`
	CanPublish     *bool  `json:"canPublish,omitempty"`
	CanSubscribe   *bool  `json:"canSubscribe,omitempty"`
	CanPublishData *bool  `json:"canPublishData,omitempty"`
	Hidden         bool   `json:"hidden,omitempty"`
}

// Claims are a token's claims, as LiveKit's ClaimGrants: the registered ones (iss, sub, nbf, exp, jti),
// the display name, the video grant and opaque metadata. Plain data: safe for concurrent reads.
type Claims struct {
	jwt.RegisteredClaims
	Name  string      `json:"name,omitempty"`
	Video *VideoGrant `json:"video,omitempty"`
	// Metadata is LiveKit's participant metadata: kept, not interpreted.
	Metadata string `json:"metadata,omitempty"`
	// SHA256 is the base64 SHA-256 of a webhook's body, in the token that signs it (LiveKit's scheme).
	SHA256 string `json:"sha256,omitempty"`
}

// Identity is the subject: who holds the token.
func (c *Claims) Identity() string { return c.Subject }

// Need says what a request needs a token to grant, as a set of bits.
type Need uint

// The grants an entry point may need.
const (
	NeedJoin        Need = 1 << iota // roomJoin for the room, and an identity (the page, WHIP, WHEP, /watch)
	NeedPublish                      // canPublish in the room: send audio and video (the page, WHIP)
	NeedSubscribe                    // canSubscribe in the room: receive it (the page, WHEP, /watch)
	NeedPublishData                  // canPublishData in the room: chat and files
	NeedAdmin                        // roomAdmin for the room, or for every room when the grant names none
	NeedRecord                       // roomRecord (or roomAdmin), like NeedAdmin for the room: record, stream

	needInRoom = NeedJoin | NeedPublish | NeedSubscribe | NeedPublishData
	needAdmin  = NeedAdmin | NeedRecord
)

func flag(b *bool) bool { return b == nil || *b }

// CanPublishMedia reports whether the grant lets its holder send audio and video (canPublish; absent
// means true).
func (g *VideoGrant) CanPublishMedia() bool { return g != nil && flag(g.CanPublish) }

// CanSubscribeMedia reports whether the grant lets its holder receive the room (canSubscribe; absent
// means true).
func (g *VideoGrant) CanSubscribeMedia() bool { return g != nil && flag(g.CanSubscribe) }

// CanPublishDataMessages reports whether the grant lets its holder send chat and files (canPublishData;
// absent means true).
func (g *VideoGrant) CanPublishDataMessages() bool { return g != nil && flag(g.CanPublishData) }

// Allow reports whether the claims grant need in room. Join, publish, subscribe and data need a grant
// for exactly that room (so room "" never matches); admin and record also accept a grant that names no
// room (every room), and room "" asks for such a grant. Need 0 asks for any token of the room. The error
// wraps ErrWrongRoom or ErrMissingGrant (naming the grant).
func (c *Claims) Allow(room string, need Need) error {
	g := c.Video
	switch {
	case g == nil:
		return fmt.Errorf("%w: no video grant", ErrMissingGrant)
	case need&^(needInRoom|needAdmin) != 0:
		return fmt.Errorf("%w: unknown need %#x", ErrMissingGrant, uint(need))
	case need&needInRoom != 0 || need == 0:
		if room == "" || g.Room != room {
			return fmt.Errorf("%w: %q", ErrWrongRoom, g.Room)
		}
	case g.Room != "" && g.Room != room:
		return fmt.Errorf("%w: %q", ErrWrongRoom, g.Room)
	}
	switch {
	case need&NeedJoin != 0 && !g.RoomJoin:
		return fmt.Errorf("%w: roomJoin", ErrMissingGrant)
	case need&NeedJoin != 0 && c.Subject == "":
		return fmt.Errorf("%w: an identity (sub) to join as", ErrMissingGrant)
	case need&NeedPublish != 0 && !g.CanPublishMedia():
		return fmt.Errorf("%w: canPublish", ErrMissingGrant)
	case need&NeedSubscribe != 0 && !g.CanSubscribeMedia():
		return fmt.Errorf("%w: canSubscribe", ErrMissingGrant)
	case need&NeedPublishData != 0 && !g.CanPublishDataMessages():
		return fmt.Errorf("%w: canPublishData", ErrMissingGrant)
	case need&NeedAdmin != 0 && !g.RoomAdmin:
		return fmt.Errorf("%w: roomAdmin", ErrMissingGrant)
	case need&NeedRecord != 0 && !g.RoomRecord && !g.RoomAdmin:
		return fmt.Errorf("%w: roomRecord", ErrMissingGrant)
	}
	return nil
}

// maxTokenLen bounds what Verify parses.
const maxTokenLen = 8 << 10

// Verify checks a token against the keys at time now: HS256 only, a known issuer and its secret, an
// exp that has not passed and an nbf, if any, that has (within Leeway). It returns the claims, or an
// error wrapping ErrNoToken, ErrMalformed, ErrUnknownKey, ErrBadSignature, ErrExpired or ErrNotYetValid
// (the signature is checked before the times: a forged token is never "expired"). It never panics,
// whatever token holds.
func (k Keys) Verify(token string, now time.Time) (*Claims, error) {
	if token == "" {
		return nil, ErrNoToken
	}
	if len(token) > maxTokenLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(token))
	}
	var c Claims
	p := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithExpirationRequired())
	_, err := p.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		iss, _ := t.Claims.GetIssuer()
		secret, ok := k[iss]
		if !ok || iss == "" || secret == "" {
			return nil, fmt.Errorf("%w %q", ErrUnknownKey, iss)
		}
		return []byte(secret), nil
	})
	switch {
	case err == nil:
		return &c, nil
	case errors.Is(err, ErrUnknownKey):
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, c.Issuer)
	case errors.Is(err, jwt.ErrTokenMalformed), errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return nil, ErrNotYetValid
	}
	return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
}

// Sign returns a token for claims, signed with HS256 and key's secret: it sets iss to key, and nbf to
// now and exp to now + ttl unless the claims have their own. It is for the token command, the
// webhooks' signatures (package webhook) and tests.
func (k Keys) Sign(key string, c Claims, now time.Time, ttl time.Duration) (string, error) {
	secret, ok := k[key]
	if !ok || key == "" {
		return "", fmt.Errorf("sign: %w %q", ErrUnknownKey, key)
	}
	if c.ExpiresAt == nil && ttl <= 0 {
		return "", fmt.Errorf("sign: ttl %v, want > 0", ttl)
	}
	c.Issuer = key
	if c.NotBefore == nil {
		c.NotBefore = jwt.NewNumericDate(now.Add(-time.Second))
	}
	if c.ExpiresAt == nil {
		c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
}

// TokenFromRequest returns the token a request carries: "Authorization: Bearer T" (the scheme in any
// case), else the query parameter access_token, else token. Empty when there is none.
func TokenFromRequest(r *http.Request) string {
	scheme, tok, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if tok = strings.TrimSpace(tok); strings.EqualFold(scheme, "Bearer") && tok != "" {
		return tok
	}
	q := r.URL.Query()
	if t := q.Get("access_token"); t != "" {
		return t
	}
	return q.Get("token")
}

// HTTPStatus is the status for an error of Verify or Allow: 401 for a missing, malformed, unsigned or
// expired token, 403 for a good token that does not grant the request; 200 for nil.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrWrongRoom), errors.Is(err, ErrMissingGrant):
		return http.StatusForbidden
	}
	return http.StatusUnauthorized
}

// Message is a short, user-facing explanation of an error of Verify or Allow: it tells an expired token
// ("the access token has expired") apart, and never shows the token.
func Message(err error) string {
	switch {
	case errors.Is(err, ErrNoToken):
		return "an access token is required"
	case errors.Is(err, ErrExpired):
		return "the access token has expired"
	case errors.Is(err, ErrNotYetValid):
		return "the access token is not valid yet"
	case errors.Is(err, ErrWrongRoom):
		return "the access token is for another room"
	case errors.Is(err, ErrMissingGrant):
		return "the access token does not allow this"
	}
	return "the access token is not valid"
}

// Authorizer checks the tokens of an entry point's requests. With no Keys, tokens are off: every check
// passes, with nil claims. The zero value is ready to use (tokens off). Safe for concurrent use once
// built; do not change its fields or its Keys afterwards.
type Authorizer struct {
	// Keys verify the tokens; none means tokens are off.
	Keys Keys
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Enabled reports whether tokens are required.
func (a *Authorizer) Enabled() bool { return len(a.Keys) > 0 }

// Check verifies token and checks that it grants need in room (Verify, then Claims.Allow). With tokens
// off it returns nil claims and no error. Map an error to a status with HTTPStatus and to words with
// Message.
func (a *Authorizer) Check(token, room string, need Need) (*Claims, error) {
	if !a.Enabled() {
		return nil, nil
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	c, err := a.Keys.Verify(token, now())
	if err != nil {
		return nil, err
	}
	if err := c.Allow(room, need); err != nil {
		return nil, err
	}
	return c, nil
}

// CheckRequest is Check on the token of r (TokenFromRequest), with the HTTP status to answer: 200 when
// let in, else 401 (no, malformed, unsigned or expired token) or 403 (wrong room, missing grant).
func (a *Authorizer) CheckRequest(r *http.Request, room string, need Need) (*Claims, int, error) {
	c, err := a.Check(TokenFromRequest(r), room, need)
	return c, HTTPStatus(err), err
}
