package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const secret = "0123456789abcdef0123456789abcdef-secret"

var (
	keys = Keys{"APIkey1": secret, "other": strings.Repeat("x", 40)}
	now  = time.Unix(1_800_000_000, 0)
	no   = false
	yes  = true
)

// handMade signs a JWT by hand (not with the library), the way LiveKit's server SDK lays out its claims.
func handMade(header, claims string, key string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

// sign signs a token for identity with grant at now, valid for an hour, after mod.
func sign(t testing.TB, grant *VideoGrant, mod func(*Claims)) string {
	t.Helper()
	c := Claims{Name: "n", Video: grant}
	c.Subject = "id"
	if mod != nil {
		mod(&c)
	}
	tok, err := keys.Sign("APIkey1", c, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestLiveKitShapedToken: tokens laid out by hand as LiveKit's SDKs write them verify, and their grants
// read as LiveKit reads them (absent canPublish, canSubscribe and canPublishData mean true); fields this
// server does not know are ignored.
func TestLiveKitShapedToken(t *testing.T) {
	exp, nbf := now.Add(time.Hour).Unix(), now.Add(-time.Minute).Unix()
	for _, c := range []struct {
		name, header, claims string
		room                 string
		allow, refuse        Need
		refusal              error
	}{
		{"server SDK", `{"alg":"HS256","typ":"JWT"}`,
			fmt.Sprintf(`{"exp":%d,"iss":"APIkey1","name":"Ann Example","nbf":%d,"sub":"ann",`+
				`"video":{"room":"standup","roomJoin":true}}`, exp, nbf),
			"standup", NeedJoin | NeedPublish | NeedSubscribe | NeedPublishData, NeedAdmin, ErrMissingGrant},
		{"with LiveKit's other fields", `{"alg":"HS256","typ":"JWT"}`,
			fmt.Sprintf(`{"exp":%d,"iss":"APIkey1","jti":"ann","kind":"standard","metadata":"{\"a\":1}",`+
				`"attributes":{"k":"v"},"name":"Ann Example","nbf":%d,"sub":"ann","roomConfig":{"name":"x"},`+
				`"video":{"room":"standup","roomJoin":true,"canPublish":false,"canPublishSources":["camera"],`+
				`"canUpdateOwnMetadata":true,"hidden":true,"recorder":true}}`, exp, nbf),
			"standup", NeedJoin | NeedSubscribe | NeedPublishData, NeedPublish, ErrMissingGrant},
		{"admin of every room", `{"typ":"JWT","alg":"HS256"}`,
			fmt.Sprintf(`{"exp":%d,"iss":"APIkey1","nbf":%d,"sub":"ops","video":{"roomAdmin":true,"roomList":true,"roomCreate":true}}`, exp, nbf),
			"", NeedAdmin | NeedRecord, NeedJoin, ErrWrongRoom},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok := handMade(c.header, c.claims, secret)
			cl, err := keys.Verify(tok, now)
			if err != nil {
				t.Fatalf("Verify(%s): %v", c.claims, err)
			}
			if cl.Issuer != "APIkey1" || cl.Identity() == "" || cl.Video == nil {
				t.Errorf("claims %+v, video %+v", cl, cl.Video)
			}
			if err := cl.Allow(c.room, c.allow); err != nil {
				t.Errorf("Allow(%q, %b): %v", c.room, c.allow, err)
			}
			if err := cl.Allow(c.room, c.refuse); !errors.Is(err, c.refusal) {
				t.Errorf("Allow(%q, %b) = %v, want %v", c.room, c.refuse, err, c.refusal)
			}
			if c.room != "" {
				if err := cl.Allow("other-room", NeedJoin); !errors.Is(err, ErrWrongRoom) {
					t.Errorf("Allow for another room: %v, want ErrWrongRoom", err)
				}
			}
		})
	}
	cl, _ := keys.Verify(handMade(`{"alg":"HS256"}`, fmt.Sprintf(`{"exp":%d,"iss":"APIkey1","sub":"ann","name":"Ann",`+
		`"metadata":"m","jti":"j1","video":{"room":"r","roomJoin":true,"hidden":true}}`, exp), secret), now)
	if cl == nil || cl.Name != "Ann" || cl.Metadata != "m" || cl.ID != "j1" || !cl.Video.Hidden {
		t.Errorf("name, metadata, jti, hidden: %+v", cl)
	}
}

// TestSignRoundTrip: Sign writes LiveKit's field names, and Verify reads back what Sign wrote.
func TestSignRoundTrip(t *testing.T) {
	want := Claims{Name: "Ann", Metadata: `{"x":1}`, Video: &VideoGrant{Room: "r", RoomJoin: true, RoomAdmin: true,
		RoomRecord: true, RoomCreate: true, RoomList: true, CanPublish: &no, CanSubscribe: &yes, CanPublishData: &no, Hidden: true}}
	want.Subject, want.ID = "ann", "jti-1"
	tok, err := keys.Sign("other", want, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := keys.Verify(tok, now)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want.Issuer = "other"
	want.NotBefore, want.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Second)), jwt.NewNumericDate(now.Add(time.Hour))
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("round trip:\n got %+v %+v\nwant %+v %+v", got, got.Video, want, want.Video)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	var wire map[string]any
	if err := json.Unmarshal(payload, &wire); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"iss", "sub", "name", "nbf", "exp", "jti", "metadata", "video"} {
		if _, ok := wire[k]; !ok {
			t.Errorf("payload %s lacks %q", payload, k)
		}
	}
	video, _ := wire["video"].(map[string]any)
	for _, k := range []string{"room", "roomJoin", "roomAdmin", "roomRecord", "roomCreate", "roomList", "canPublish",
		"canSubscribe", "canPublishData", "hidden"} {
		if _, ok := video[k]; !ok {
			t.Errorf("video grant %v lacks %q", video, k)
		}
	}
	for _, c := range []struct {
		key string
		ttl time.Duration
	}{{"nobody", time.Hour}, {"", time.Hour}, {"APIkey1", 0}, {"APIkey1", -time.Hour}} {
		if tok, err := keys.Sign(c.key, Claims{}, now, c.ttl); err == nil {
			t.Errorf("Sign(%q, ttl %v) = %q, want an error", c.key, c.ttl, tok)
		}
	}
}

func TestVerify(t *testing.T) {
	tok := sign(t, &VideoGrant{Room: "r", RoomJoin: true}, nil)
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	enc := base64.RawURLEncoding.EncodeToString
	forged := parts[0] + "." + parts[1] + "." + enc([]byte("forged"))
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"iss": "APIkey1", "exp": now.Add(time.Hour).Unix()}).
		SignedString([]byte(secret))
	hs384, _ := jwt.NewWithClaims(jwt.SigningMethodHS384, jwt.MapClaims{"iss": "APIkey1", "exp": now.Add(time.Hour).Unix()}).
		SignedString([]byte(secret))
	claims := func(s string) string { return handMade(`{"alg":"HS256","typ":"JWT"}`, s, secret) }
	expAt := now.Add(time.Hour)
	for _, c := range []struct {
		name  string
		token string
		at    time.Time
		want  error
	}{
		{"good", tok, now, nil},
		{"empty", "", now, ErrNoToken},
		{"garbage", "not.a.jwt", now, ErrMalformed},
		{"two parts", "abc.def", now, ErrMalformed},
		{"four parts", tok + ".x", now, ErrMalformed},
		{"huge", strings.Repeat("a", 10000), now, ErrMalformed},
		{"header not json", enc([]byte("{")) + "." + parts[1] + "." + parts[2], now, ErrMalformed},
		{"claims not json", claims(`[1,2`), now, ErrMalformed},
		{"iss not a string", claims(fmt.Sprintf(`{"iss":5,"exp":%d}`, expAt.Unix())), now, ErrMalformed},
		{"video not an object", claims(fmt.Sprintf(`{"iss":"APIkey1","exp":%d,"video":"all"}`, expAt.Unix())), now, ErrMalformed},
		{"no exp", claims(`{"iss":"APIkey1","sub":"x"}`), now, ErrMalformed},
		{"expired", tok, expAt.Add(Leeway + time.Second), ErrExpired},
		{"expired within the leeway", tok, expAt.Add(Leeway / 2), nil},
		{"expired, forged", forged, expAt.Add(time.Hour), ErrBadSignature},
		{"not yet valid", sign(t, &VideoGrant{}, func(c *Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) }), now, ErrNotYetValid},
		{"not yet valid within the leeway", sign(t, &VideoGrant{}, func(c *Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(Leeway / 2)) }), now, nil},
		{"no nbf", claims(fmt.Sprintf(`{"iss":"APIkey1","exp":%d}`, expAt.Unix())), now, nil},
		{"bad signature", forged, now, ErrBadSignature},
		{"no signature", parts[0] + "." + parts[1] + ".", now, ErrBadSignature},
		{"signature not base64", parts[0] + "." + parts[1] + ".!!!", now, ErrMalformed},
		{"signed with another key's secret", handMade(`{"alg":"HS256"}`, string(payload), keys["other"]), now, ErrBadSignature},
		{"unknown key", handMade(`{"alg":"HS256"}`, strings.Replace(string(payload), "APIkey1", "nobody", 1), secret), now, ErrUnknownKey},
		{"no iss", claims(fmt.Sprintf(`{"sub":"x","exp":%d}`, expAt.Unix())), now, ErrUnknownKey},
		{"alg none", enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".", now, ErrBadSignature},
		{"alg None", enc([]byte(`{"alg":"None"}`)) + "." + parts[1] + ".", now, ErrBadSignature},
		{"no alg", handMade(`{"typ":"JWT"}`, string(payload), secret), now, ErrBadSignature},
		{"alg HS512", hs512, now, ErrBadSignature},
		{"alg HS384", hs384, now, ErrBadSignature},
		{"alg RS256 header", handMade(`{"alg":"RS256"}`, string(payload), secret), now, ErrBadSignature},
		{"alg ES256 header", handMade(`{"alg":"ES256"}`, string(payload), secret), now, ErrBadSignature},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, err := keys.Verify(c.token, c.at)
			if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
				t.Errorf("Verify(%.60q, %v) = %v, want %v", c.token, c.at, err, c.want)
			}
			if (err == nil) != (cl != nil) {
				t.Errorf("Verify(%.60q) = %v, %v: claims iff no error", c.token, cl, err)
			}
		})
	}
	if _, err := (Keys{}).Verify(tok, now); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("no keys: %v, want ErrUnknownKey", err)
	}
}

func TestAllow(t *testing.T) {
	for _, c := range []struct {
		name     string
		grant    *VideoGrant
		identity string
		room     string
		need     Need
		want     error
	}{
		{"no grant", nil, "id", "r", NeedJoin, ErrMissingGrant},
		{"join", &VideoGrant{Room: "r", RoomJoin: true}, "id", "r", NeedJoin | NeedSubscribe, nil},
		{"absent flags are true", &VideoGrant{Room: "r", RoomJoin: true}, "id", "r", NeedJoin | NeedPublish | NeedSubscribe | NeedPublishData, nil},
		{"explicit true", &VideoGrant{Room: "r", RoomJoin: true, CanPublish: &yes}, "id", "r", NeedJoin | NeedPublish, nil},
		{"no roomJoin", &VideoGrant{Room: "r"}, "id", "r", NeedJoin, ErrMissingGrant},
		{"no identity", &VideoGrant{Room: "r", RoomJoin: true}, "", "r", NeedJoin, ErrMissingGrant},
		{"another room", &VideoGrant{Room: "s", RoomJoin: true}, "id", "r", NeedJoin, ErrWrongRoom},
		{"a prefix of the room", &VideoGrant{Room: "r", RoomJoin: true}, "id", "r2", NeedJoin, ErrWrongRoom},
		{"room case", &VideoGrant{Room: "R", RoomJoin: true}, "id", "r", NeedJoin, ErrWrongRoom},
		{"no room in a join grant", &VideoGrant{RoomJoin: true}, "id", "r", NeedJoin, ErrWrongRoom},
		{"no room anywhere", &VideoGrant{RoomJoin: true}, "id", "", NeedJoin, ErrWrongRoom},
		{"publish in another room", &VideoGrant{Room: "s"}, "id", "r", NeedPublish, ErrWrongRoom},
		{"viewer cannot publish", &VideoGrant{Room: "r", RoomJoin: true, CanPublish: &no}, "id", "r", NeedJoin | NeedPublish, ErrMissingGrant},
		{"viewer may subscribe", &VideoGrant{Room: "r", RoomJoin: true, CanPublish: &no}, "id", "r", NeedJoin | NeedSubscribe, nil},
		{"no subscribe", &VideoGrant{Room: "r", RoomJoin: true, CanSubscribe: &no}, "id", "r", NeedSubscribe, ErrMissingGrant},
		{"no data", &VideoGrant{Room: "r", RoomJoin: true, CanPublishData: &no}, "id", "r", NeedPublishData, ErrMissingGrant},
		{"any token of the room", &VideoGrant{Room: "r"}, "", "r", 0, nil},
		{"any token of another room", &VideoGrant{Room: "s"}, "", "r", 0, ErrWrongRoom},
		{"unknown need", &VideoGrant{Room: "r", RoomJoin: true, RoomAdmin: true}, "id", "r", 1 << 20, ErrMissingGrant},
		{"admin of every room", &VideoGrant{RoomAdmin: true}, "", "r", NeedAdmin, nil},
		{"admin of every room, asked for every room", &VideoGrant{RoomAdmin: true}, "", "", NeedAdmin, nil},
		{"admin of one room, asked for every room", &VideoGrant{Room: "r", RoomAdmin: true}, "", "", NeedAdmin, ErrWrongRoom},
		{"admin of another room", &VideoGrant{Room: "s", RoomAdmin: true}, "", "r", NeedAdmin, ErrWrongRoom},
		{"admin joins", &VideoGrant{Room: "r", RoomJoin: true, RoomAdmin: true}, "id", "r", NeedJoin | NeedAdmin, nil},
		{"every-room admin cannot join without a room", &VideoGrant{RoomJoin: true, RoomAdmin: true}, "id", "r", NeedJoin | NeedAdmin, ErrWrongRoom},
		{"record with admin", &VideoGrant{Room: "r", RoomAdmin: true}, "", "r", NeedRecord, nil},
		{"record", &VideoGrant{Room: "r", RoomRecord: true}, "", "r", NeedRecord, nil},
		{"record every room", &VideoGrant{RoomRecord: true}, "", "r", NeedRecord, nil},
		{"record is not admin", &VideoGrant{Room: "r", RoomRecord: true}, "", "r", NeedAdmin, ErrMissingGrant},
		{"record in another room", &VideoGrant{Room: "s", RoomRecord: true}, "", "r", NeedRecord, ErrWrongRoom},
		{"record without a grant", &VideoGrant{Room: "r", RoomJoin: true}, "id", "r", NeedRecord, ErrMissingGrant},
		{"join is not admin", &VideoGrant{Room: "r", RoomJoin: true}, "id", "r", NeedAdmin, ErrMissingGrant},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := &Claims{Video: c.grant}
			cl.Subject = c.identity
			err := cl.Allow(c.room, c.need)
			if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
				t.Errorf("grant %+v, sub %q: Allow(%q, %b) = %v, want %v", c.grant, c.identity, c.room, c.need, err, c.want)
			}
			if err != nil && HTTPStatus(err) != http.StatusForbidden {
				t.Errorf("Allow(%q, %b) = %v: status %d, want 403", c.room, c.need, err, HTTPStatus(err))
			}
		})
	}
}

func TestHTTPStatusAndMessage(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		msg    string
	}{
		{nil, http.StatusOK, ""},
		{ErrNoToken, http.StatusUnauthorized, "required"},
		{fmt.Errorf("%w: x", ErrMalformed), http.StatusUnauthorized, "not valid"},
		{ErrUnknownKey, http.StatusUnauthorized, "not valid"},
		{ErrBadSignature, http.StatusUnauthorized, "not valid"},
		{fmt.Errorf("x: %w", ErrExpired), http.StatusUnauthorized, "the access token has expired"},
		{ErrNotYetValid, http.StatusUnauthorized, "not valid yet"},
		{fmt.Errorf("%w: %q", ErrWrongRoom, "s"), http.StatusForbidden, "another room"},
		{fmt.Errorf("%w: canPublish", ErrMissingGrant), http.StatusForbidden, "does not allow"},
	} {
		if got := HTTPStatus(c.err); got != c.status {
			t.Errorf("HTTPStatus(%v) = %d, want %d", c.err, got, c.status)
		}
		if c.err != nil && !strings.Contains(Message(c.err), c.msg) {
			t.Errorf("Message(%v) = %q, want %q in it", c.err, Message(c.err), c.msg)
		}
	}
}

func TestAuthorizer(t *testing.T) {
	clock := func() time.Time { return now }
	join := sign(t, &VideoGrant{Room: "r", RoomJoin: true}, nil)
	old, err := keys.Sign("APIkey1", Claims{Video: &VideoGrant{Room: "r", RoomJoin: true}}, time.Now().Add(-3*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	viewer := sign(t, &VideoGrant{Room: "r", RoomJoin: true, CanPublish: &no}, nil)
	for _, c := range []struct {
		name   string
		a      *Authorizer
		header string
		query  string
		need   Need
		status int
		want   error
	}{
		{"off", &Authorizer{}, "", "", NeedJoin | NeedPublish, http.StatusOK, nil},
		{"off, no keys", &Authorizer{Keys: Keys{}}, "Bearer junk", "", NeedAdmin, http.StatusOK, nil},
		{"no token", &Authorizer{Keys: keys, Now: clock}, "", "", NeedJoin, http.StatusUnauthorized, ErrNoToken},
		{"junk", &Authorizer{Keys: keys, Now: clock}, "Bearer junk", "", NeedJoin, http.StatusUnauthorized, ErrMalformed},
		{"expired", &Authorizer{Keys: keys, Now: func() time.Time { return now.Add(2 * time.Hour) }}, "", "access_token=" + join, NeedJoin, http.StatusUnauthorized, ErrExpired},
		{"expired by the real clock", &Authorizer{Keys: keys}, "", "access_token=" + old, NeedJoin, http.StatusUnauthorized, ErrExpired},
		{"publisher", &Authorizer{Keys: keys, Now: clock}, "Bearer " + join, "", NeedJoin | NeedPublish, http.StatusOK, nil},
		{"viewer subscribes", &Authorizer{Keys: keys, Now: clock}, "", "token=" + viewer, NeedJoin | NeedSubscribe, http.StatusOK, nil},
		{"viewer publishes", &Authorizer{Keys: keys, Now: clock}, "", "token=" + viewer, NeedJoin | NeedPublish, http.StatusForbidden, ErrMissingGrant},
		{"not an admin", &Authorizer{Keys: keys, Now: clock}, "Bearer " + join, "", NeedAdmin, http.StatusForbidden, ErrMissingGrant},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/whip/r?"+c.query, nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			cl, status, err := c.a.CheckRequest(r, "r", c.need)
			if status != c.status || (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
				t.Errorf("CheckRequest(%q, %q, %b) = %d, %v; want %d, %v", c.header, c.query, c.need, status, err, c.status, c.want)
			}
			if c.a.Enabled() != (len(c.a.Keys) > 0) || (cl != nil) != (err == nil && c.a.Enabled()) {
				t.Errorf("Enabled %v, claims %v, err %v", c.a.Enabled(), cl, err)
			}
		})
	}
	a := Authorizer{Keys: keys, Now: clock}
	if cl, err := a.Check(join, "other", NeedJoin); cl != nil || !errors.Is(err, ErrWrongRoom) {
		t.Errorf("Check for another room = %v, %v; want ErrWrongRoom", cl, err)
	}
}

func TestKeys(t *testing.T) {
	long := strings.Repeat("s", 32)
	k, err := ParseKeys(" a:" + long + " , b:" + long + "x ,")
	if err != nil || len(k) != 2 || k["a"] != long || k["b"] != long+"x" {
		t.Fatalf("ParseKeys = %v, %v", k, err)
	}
	if k, err := ParseKeys(""); err != nil || len(k) != 0 {
		t.Errorf(`ParseKeys("") = %v, %v; want no keys`, k, err)
	}
	if k, err := ParseKeys("a:" + long + ":with:colons"); err != nil || k["a"] != long+":with:colons" {
		t.Errorf("a secret with colons: %v, %v", k, err)
	}
	for _, c := range []struct{ in, want string }{
		{"a", "want KEY:SECRET"},
		{":" + long, "empty key"},
		{"a:", "empty secret"},
		{"a:  ", "empty secret"},
		{"a:short", "at least 32"},
		{"a:" + long[1:], "has 31 bytes"},
		{"a:" + long + ",a:" + long + "2", "twice"},
		{"a b:" + long, "no spaces"},
	} {
		_, err := ParseKeys(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseKeys(%q) = %v, want an error with %q", c.in, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), long) || strings.Contains(err.Error(), "short")) {
			t.Errorf("ParseKeys(%q): the error %q shows the secret", c.in, err)
		}
	}
	if err := k.Merge(Keys{"c": long, "a": long}); err == nil || len(k) != 2 {
		t.Errorf("Merge of a key twice: %v, keys %v", err, k.Names())
	}
	if err := k.Merge(Keys{"c": long}); err != nil || k["c"] != long {
		t.Errorf("Merge: %v", err)
	}
}

func TestKeysFile(t *testing.T) {
	long := strings.Repeat("s", 32)
	dir := t.TempDir()
	write := func(content string) string {
		f, err := os.CreateTemp(dir, "keys*.yaml")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(content); err != nil {
			t.Fatal(err)
		}
		return f.Name()
	}
	for _, c := range []struct {
		name, content string
		want          Keys
		first         string
		err           string
	}{
		{"LiveKit's layout", "# LiveKit key file\nAPIz: " + long + "\n\n  APIa:" + long + "2\n", Keys{"APIz": long, "APIa": long + "2"}, "APIz", ""},
		{"quoted and commented", "k1: \"" + long + "\"\nk2: '" + long + "' # the second\r\n", Keys{"k1": long, "k2": long}, "k1", ""},
		{"empty", "", nil, "", "no keys"},
		{"only comments", "# nothing\n\n", nil, "", "no keys"},
		{"short secret", "k: short\n", nil, "", "line 1"},
		{"empty quoted secret", "# c\nk: \"\"\n", nil, "", "line 2: api key \"k\": empty secret"},
		{"twice", "k: " + long + "\nk: " + long + "\n", nil, "", "line 2: api key \"k\" given twice"},
		{"yaml nesting", "keys:\n  k: " + long + "\n", nil, "", "empty secret"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := write(c.content)
			k, err := LoadKeysFile(path)
			_, first, _ := LoadKeys("", path)
			switch {
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Errorf("LoadKeysFile(%q) = %v, %v; want an error with %q", c.content, k, err, c.err)
			case c.err != "" && (strings.Contains(err.Error(), "short") || strings.Contains(err.Error(), long)):
				t.Errorf("LoadKeysFile(%q): the error %q shows the secret", c.content, err)
			case c.err == "" && (err != nil || !reflect.DeepEqual(k, c.want) || first != c.first):
				t.Errorf("LoadKeysFile(%q) = %v, %v, first %q; want %v, first %q", c.content, k.Names(), err, first, c.want.Names(), c.first)
			}
		})
	}
	if _, err := LoadKeysFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
	file := write("z: " + long + "\ny: " + long + "\n")
	for _, c := range []struct {
		list, file, first string
		n                 int
		err               bool
	}{
		{"", "", "", 0, false},
		{"b:" + long + ",a:" + long, "", "b", 2, false},
		{"", file, "z", 2, false},
		{" , b:" + long, file, "b", 3, false},
		{"z:" + long, file, "", 0, true},
		{"b:short", file, "", 0, true},
	} {
		k, first, err := LoadKeys(c.list, c.file)
		if (err != nil) != c.err || first != c.first || len(k) != c.n {
			t.Errorf("LoadKeys(%q, %q) = %v, %q, %v; want %d keys, first %q, error %v", c.list, c.file, k.Names(), first, err, c.n, c.first, c.err)
		}
	}
}

// TestKeysNeverPrinted: however Keys are printed, logged or encoded, the secrets do not show.
func TestKeysNeverPrinted(t *testing.T) {
	k := Keys{"a": secret, "b": strings.Repeat("z", 40)}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("keys", "keys", k, "any", any(k))
	slog.New(slog.NewJSONHandler(&js, nil)).Info("keys", slog.Any("keys", k))
	j, err := json.Marshal(struct{ K Keys }{k})
	if err != nil {
		t.Fatal(err)
	}
	outs := []string{k.String(), text.String(), js.String(), string(j), fmt.Sprint(k), fmt.Sprint([]Keys{k}),
		fmt.Sprintf("%v", struct{ K Keys }{k}), fmt.Sprintf("%+v", struct{ K Keys }{k})}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %[1]v", "%10.3v"} {
		outs = append(outs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, &k))
	}
	for _, s := range outs {
		if strings.Contains(s, secret) || strings.Contains(s, "zzzz") || strings.Contains(s, hexOf(secret)) {
			t.Errorf("keys printed as %q", s)
		}
	}
	if k.String() != "a:***,b:***" {
		t.Errorf("String() = %q, want a:***,b:***", k.String())
	}
}

func hexOf(s string) string { return fmt.Sprintf("%x", s) }

func TestTokenFromRequest(t *testing.T) {
	for _, c := range []struct {
		auth, query, want string
	}{
		{"Bearer abc", "", "abc"},
		{"bearer abc", "access_token=q", "abc"},
		{"BEARER abc", "", "abc"},
		{"BeArEr   abc ", "", "abc"},
		{"Bearer ", "access_token=q", "q"},
		{"Bearerabc", "token=t", "t"},
		{"", "access_token=q", "q"},
		{"", "access_token=q&token=t", "q"},
		{"", "token=t", "t"},
		{"Basic Zm9v", "", ""},
		{"Basic Zm9v", "token=t", "t"},
		{"", "", ""},
	} {
		r := httptest.NewRequest(http.MethodGet, "/x?"+c.query, nil)
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		if got := TokenFromRequest(r); got != c.want {
			t.Errorf("Authorization %q, query %q: %q, want %q", c.auth, c.query, got, c.want)
		}
	}
}

// FuzzVerify: Verify never panics, and whatever it accepts was signed with a configured key, expires,
// and can be asked about.
func FuzzVerify(f *testing.F) {
	tok := sign(f, &VideoGrant{Room: "r", RoomJoin: true}, nil)
	parts := strings.Split(tok, ".")
	enc := base64.RawURLEncoding.EncodeToString
	for _, s := range []string{tok, "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", strings.Repeat(".", 50),
		enc([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".",
		handMade(`{"alg":"HS256"}`, `{"iss":"APIkey1","exp":1e300,"nbf":-1e300}`, secret),
		handMade(`{"alg":"HS256"}`, `{"iss":"APIkey1","exp":"soon"}`, secret),
		handMade(`{"alg":"HS256"}`, `{"iss":"APIkey1","exp":1900000000,"video":null}`, secret),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := keys.Verify(s, now)
		if err != nil {
			if c != nil {
				t.Fatalf("Verify(%q) = %v with claims", s, err)
			}
			_ = HTTPStatus(err)
			_ = Message(err)
			return
		}
		if _, ok := keys[c.Issuer]; !ok || c.ExpiresAt == nil {
			t.Fatalf("Verify(%q) accepted claims %+v", s, c)
		}
		for _, need := range []Need{0, NeedJoin | NeedPublish, NeedAdmin, NeedRecord | NeedSubscribe} {
			_ = c.Allow("r", need)
			_ = c.Allow("", need)
		}
	})
}
