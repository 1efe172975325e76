// Package auth checks the signed room access tokens of the server's entry points (the page's WebSocket,
// WHIP, WHEP and /watch, the operators' API). Tokens are JWTs signed with HS256 and shaped like
// LiveKit's, so LiveKit's token tools and SDKs can mint them: "iss" is the API key (which selects the
// secret), "sub" the participant's identity, "name" its display name, "nbf" and "exp" its validity, and
// "video" the grant: which room, and what the holder may do there.
package auth

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors of Verify and Claims.Allow. Check them with errors.Is.
var (
	// ErrNoToken: the request carries no token.
	ErrNoToken = errors.New("auth: no access token")
	// ErrMalformed: the token is not a JWT.
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

// VideoGrant is the "video" claim: LiveKit's grant, with the fields this server uses. The *bool fields
// are true when absent, as in LiveKit.
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

// Claims are a token's claims. Plain data.
type Claims struct {
	jwt.RegisteredClaims
	Name     string      `json:"name,omitempty"`
	Video    *VideoGrant `json:"video,omitempty"`
	Metadata string      `json:"metadata,omitempty"`
	// SHA256 is the base64 SHA-256 of a webhook's body, in the token that signs it (LiveKit's scheme).
	SHA256 string `json:"sha256,omitempty"`
}

// Identity is the subject: who holds the token.
func (c *Claims) Identity() string { return c.Subject }

// Need says what a request needs a token to grant, as a set of bits.
type Need uint

// The grants an entry point may need.
const (
	NeedJoin        Need = 1 << iota // roomJoin for the room (the page, WHIP, WHEP, /watch)
	NeedPublish                      // canPublish: send audio and video (the page, WHIP)
	NeedSubscribe                    // canSubscribe: receive the room (the page, WHEP, /watch)
	NeedPublishData                  // canPublishData: chat and files
	NeedAdmin                        // roomAdmin for the room, or for every room when the grant names none
	NeedRecord                       // roomRecord (or roomAdmin): start and stop recordings and streams
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

// Allow reports whether the claims grant need in room (room "" only for admin needs: every room). The
// error wraps ErrWrongRoom or ErrMissingGrant.
func (c *Claims) Allow(room string, need Need) error {
	g := c.Video
	if g == nil {
		return fmt.Errorf("%w: no video grant", ErrMissingGrant)
	}
	if need&(NeedAdmin|NeedRecord) != 0 {
		if g.Room != "" && g.Room != room {
			return fmt.Errorf("%w: %q", ErrWrongRoom, g.Room)
		}
		if need&NeedAdmin != 0 && !g.RoomAdmin {
			return fmt.Errorf("%w: roomAdmin", ErrMissingGrant)
		}
		if need&NeedRecord != 0 && !g.RoomRecord && !g.RoomAdmin {
			return fmt.Errorf("%w: roomRecord", ErrMissingGrant)
		}
	}
	if need&(NeedJoin|NeedPublish|NeedSubscribe|NeedPublishData) == 0 {
		return nil
	}
	if g.Room != room {
		return fmt.Errorf("%w: %q", ErrWrongRoom, g.Room)
	}
	switch {
	case need&NeedJoin != 0 && !g.RoomJoin:
		return fmt.Errorf("%w: roomJoin", ErrMissingGrant)
	case need&NeedPublish != 0 && !g.CanPublishMedia():
		return fmt.Errorf("%w: canPublish", ErrMissingGrant)
	case need&NeedSubscribe != 0 && !g.CanSubscribeMedia():
		return fmt.Errorf("%w: canSubscribe", ErrMissingGrant)
	case need&NeedPublishData != 0 && !g.CanPublishDataMessages():
		return fmt.Errorf("%w: canPublishData", ErrMissingGrant)
	}
	return nil
}

// Verify checks a token against the keys at time now: HS256 only, a known issuer and its secret, an
// exp that has not passed and an nbf that has (within Leeway). It returns the claims, or an error
// wrapping ErrNoToken, ErrMalformed, ErrUnknownKey, ErrBadSignature, ErrExpired or ErrNotYetValid. It never
// panics, whatever token holds.
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
		if !ok {
			return nil, ErrUnknownKey
		}
		return []byte(secret), nil
	})
	switch {
	case err == nil:
		return &c, nil
	case errors.Is(err, ErrUnknownKey):
		return nil, ErrUnknownKey
	case errors.Is(err, jwt.ErrTokenMalformed):
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return nil, ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
}

// maxTokenLen bounds what Verify parses.
const maxTokenLen = 8 << 10

// Sign returns a token for claims, signed with key's secret; it sets iss to key, nbf to now and exp to
// now + ttl unless the claims have their own.
func (k Keys) Sign(key string, c Claims, now time.Time, ttl time.Duration) (string, error) {
	secret, ok := k[key]
	if !ok {
		return "", fmt.Errorf("sign: %w %q", ErrUnknownKey, key)
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

// TokenFromRequest returns the token a request carries: "Authorization: Bearer T" (any case), else the
// query parameter access_token, else token. Empty when there is none.
func TokenFromRequest(r *http.Request) string {
	if h := r.Header.Get("Authorization"); len(h) > 7 && (h[:7] == "Bearer " || h[:7] == "bearer " || h[:7] == "BEARER ") {
		return h[7:]
	}
	q := r.URL.Query()
	if t := q.Get("access_token"); t != "" {
		return t
	}
	return q.Get("token")
}

// HTTPStatus is the status for an error of Verify or Allow: 401 for a missing, malformed, unsigned or
// expired token, 403 for a good token that does not grant the request.
func HTTPStatus(err error) int {
	if errors.Is(err, ErrWrongRoom) || errors.Is(err, ErrMissingGrant) {
		return http.StatusForbidden
	}
	return http.StatusUnauthorized
}

// Message is a short, user-facing explanation of an error of Verify or Allow.
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
