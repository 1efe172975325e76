package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const secret = "0123456789abcdef0123456789abcdef-secret"

var keys = Keys{"APIkey1": secret, "other": strings.Repeat("x", 40)}

// handMade signs a JWT by hand (not with the library), the way LiveKit's server SDK lays out its claims.
func handMade(header, claims string, key string) string {
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

func TestLiveKitShapedToken(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	claims := fmt.Sprintf(`{"exp":%d,"iss":"APIkey1","name":"Ann Example","nbf":%d,"sub":"ann",`+
		`"video":{"room":"standup","roomJoin":true}}`, now.Add(time.Hour).Unix(), now.Add(-time.Minute).Unix())
	tok := handMade(`{"alg":"HS256","typ":"JWT"}`, claims, secret)
	c, err := keys.Verify(tok, now)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.Identity() != "ann" || c.Name != "Ann Example" || c.Video.Room != "standup" || !c.Video.RoomJoin {
		t.Errorf("claims %+v, video %+v", c, c.Video)
	}
	// canPublish, canSubscribe and canPublishData are absent: true, as in LiveKit.
	if err := c.Allow("standup", NeedJoin|NeedPublish|NeedSubscribe|NeedPublishData); err != nil {
		t.Errorf("Allow join+publish+subscribe+data: %v", err)
	}
	if err := c.Allow("other-room", NeedJoin); !errors.Is(err, ErrWrongRoom) {
		t.Errorf("Allow for another room: %v, want ErrWrongRoom", err)
	}
	if err := c.Allow("standup", NeedAdmin); !errors.Is(err, ErrMissingGrant) {
		t.Errorf("Allow admin: %v, want ErrMissingGrant", err)
	}
}

func TestVerifyRefusals(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good := func(mod func(*Claims)) string {
		c := Claims{Name: "n", Video: &VideoGrant{Room: "r", RoomJoin: true}}
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
	tok := good(nil)
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	hs512 := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"iss": "APIkey1", "exp": now.Add(time.Hour).Unix()})
	hs512Tok, _ := hs512.SignedString([]byte(secret))
	for _, c := range []struct {
		name  string
		token string
		at    time.Time
		want  error
	}{
		{"empty", "", now, ErrNoToken},
		{"garbage", "not.a.jwt", now, ErrMalformed},
		{"two parts", "abc.def", now, ErrMalformed},
		{"huge", strings.Repeat("a", 10000), now, ErrMalformed},
		{"expired", tok, now.Add(time.Hour + Leeway + time.Second), ErrExpired},
		{"within the leeway", tok, now.Add(time.Hour + Leeway/2), nil},
		{"not yet valid", good(func(c *Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) }), now, ErrNotYetValid},
		{"no exp", handMade(`{"alg":"HS256"}`, `{"iss":"APIkey1","sub":"x"}`, secret), now, ErrMalformed},
		{"bad signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString([]byte("forged")), now, ErrBadSignature},
		{"signed with another key's secret", handMade(`{"alg":"HS256"}`, string(payload), keys["other"]), now, ErrBadSignature},
		{"unknown key", handMade(`{"alg":"HS256"}`, strings.Replace(string(payload), "APIkey1", "nobody", 1), secret), now, ErrUnknownKey},
		{"alg none", none, now, ErrBadSignature},
		{"alg HS512", hs512Tok, now, ErrBadSignature},
		{"alg RS256 header", handMade(`{"alg":"RS256"}`, string(payload), secret), now, ErrBadSignature},
	} {
		_, err := keys.Verify(c.token, c.at)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: Verify = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestAllow(t *testing.T) {
	f := false
	for _, c := range []struct {
		name  string
		grant *VideoGrant
		room  string
		need  Need
		want  error
	}{
		{"no grant", nil, "r", NeedJoin, ErrMissingGrant},
		{"join", &VideoGrant{Room: "r", RoomJoin: true}, "r", NeedJoin | NeedSubscribe, nil},
		{"no roomJoin", &VideoGrant{Room: "r"}, "r", NeedJoin, ErrMissingGrant},
		{"another room", &VideoGrant{Room: "s", RoomJoin: true}, "r", NeedJoin, ErrWrongRoom},
		{"no room in a join grant", &VideoGrant{RoomJoin: true}, "r", NeedJoin, ErrWrongRoom},
		{"viewer cannot publish", &VideoGrant{Room: "r", RoomJoin: true, CanPublish: &f}, "r", NeedJoin | NeedPublish, ErrMissingGrant},
		{"viewer may subscribe", &VideoGrant{Room: "r", RoomJoin: true, CanPublish: &f}, "r", NeedJoin | NeedSubscribe, nil},
		{"no subscribe", &VideoGrant{Room: "r", RoomJoin: true, CanSubscribe: &f}, "r", NeedSubscribe, ErrMissingGrant},
		{"no data", &VideoGrant{Room: "r", RoomJoin: true, CanPublishData: &f}, "r", NeedPublishData, ErrMissingGrant},
		{"admin of every room", &VideoGrant{RoomAdmin: true}, "r", NeedAdmin, nil},
		{"admin of another room", &VideoGrant{Room: "s", RoomAdmin: true}, "r", NeedAdmin, ErrWrongRoom},
		{"record with admin", &VideoGrant{Room: "r", RoomAdmin: true}, "r", NeedRecord, nil},
		{"record", &VideoGrant{Room: "r", RoomRecord: true}, "r", NeedRecord, nil},
		{"record without a grant", &VideoGrant{Room: "r", RoomJoin: true}, "r", NeedRecord, ErrMissingGrant},
		{"join is not admin", &VideoGrant{Room: "r", RoomJoin: true}, "r", NeedAdmin, ErrMissingGrant},
	} {
		cl := &Claims{Video: c.grant}
		err := cl.Allow(c.room, c.need)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: Allow = %v, want %v", c.name, err, c.want)
		}
		if err != nil && HTTPStatus(err) != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", c.name, HTTPStatus(err))
		}
	}
	if HTTPStatus(ErrExpired) != http.StatusUnauthorized || Message(fmt.Errorf("x: %w", ErrExpired)) != "the access token has expired" {
		t.Error("an expired token is not 401 with an 'expired' message")
	}
}

func TestKeys(t *testing.T) {
	long := strings.Repeat("s", 32)
	k, err := ParseKeys(" a:" + long + " , b:" + long + "x ")
	if err != nil || len(k) != 2 || k["b"] != long+"x" {
		t.Fatalf("ParseKeys = %v, %v", k, err)
	}
	for _, bad := range []string{"a", ":" + long, "a:short", "a:" + long + ",a:" + long, "a b:" + long} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
	for _, s := range []string{k.String(), fmt.Sprintf("%v", k), fmt.Sprintf("%#v", k), fmt.Sprint(k)} {
		if strings.Contains(s, long) || !strings.Contains(s, "a:***") {
			t.Errorf("keys printed as %q", s)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "keys.yaml")
	os.WriteFile(file, []byte("# LiveKit-style key file\nAPIfile: "+long+"\n\nAPI2:"+long+"2\n"), 0o600)
	fk, err := LoadKeysFile(file)
	if err != nil || len(fk) != 2 || fk["APIfile"] != long {
		t.Fatalf("LoadKeysFile = %v, %v", fk, err)
	}
	os.WriteFile(file, []byte("APIfile: short\n"), 0o600)
	if _, err := LoadKeysFile(file); err == nil || strings.Contains(err.Error(), "short") {
		t.Errorf("a short secret in a file: %v (must fail without showing it)", err)
	}
	if err := k.Merge(Keys{"a": long}); err == nil {
		t.Error("Merge accepted a key twice")
	}
}

func TestTokenFromRequest(t *testing.T) {
	for _, c := range []struct {
		auth, query, want string
	}{
		{"Bearer abc", "", "abc"},
		{"bearer abc", "access_token=q", "abc"},
		{"", "access_token=q", "q"},
		{"", "token=t", "t"},
		{"Basic Zm9v", "", ""},
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

func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	tok, _ := keys.Sign("APIkey1", Claims{Video: &VideoGrant{Room: "r", RoomJoin: true}}, now, time.Hour)
	for _, s := range []string{tok, "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", strings.Repeat(".", 50)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := keys.Verify(s, now)
		if err == nil {
			_ = c.Allow("r", NeedJoin|NeedPublish)
		}
	})
}
