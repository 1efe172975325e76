package auth

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// MinSecretLen is the shortest secret accepted, as LiveKit requires: an HS256 key of fewer bytes can be
// guessed offline from one token.
const MinSecretLen = 32

// Keys are the API keys and their secrets (key -> secret). A token's "iss" picks its secret. Empty Keys
// means tokens are off. Never print the secrets: String hides them.
type Keys map[string]string

// ParseKeys reads "KEY:SECRET,KEY2:SECRET2". Keys must be unique and secrets at least MinSecretLen bytes.
func ParseKeys(s string) (Keys, error) {
	k := Keys{}
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		if err := k.add(part); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// add adds one "KEY:SECRET" (or "KEY: SECRET").
func (k Keys) add(pair string) error {
	key, secret, ok := strings.Cut(pair, ":")
	key, secret = strings.TrimSpace(key), strings.TrimSpace(secret)
	switch {
	case !ok || key == "":
		return errors.New("api key: want KEY:SECRET")
	case strings.ContainsAny(key, " \t,"):
		return fmt.Errorf("api key %q: no spaces or commas", key)
	case len(secret) < MinSecretLen:
		return fmt.Errorf("api key %q: the secret has %d bytes, want at least %d", key, len(secret), MinSecretLen)
	}
	if _, dup := k[key]; dup {
		return fmt.Errorf("api key %q given twice", key)
	}
	k[key] = secret
	return nil
}

// LoadKeysFile reads keys from a file: one "KEY: SECRET" (or KEY:SECRET) per line, as LiveKit's key file;
// blank lines and lines starting with # are skipped.
func LoadKeysFile(path string) (Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("api keys file: %w", err)
	}
	defer f.Close()
	k := Keys{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := k.add(line); err != nil {
			return nil, fmt.Errorf("api keys file %s line %d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("api keys file: %w", err)
	}
	return k, nil
}

// Merge adds other's keys to k; a key in both is an error.
func (k Keys) Merge(other Keys) error {
	for key, secret := range other {
		if _, dup := k[key]; dup {
			return fmt.Errorf("api key %q given twice", key)
		}
		k[key] = secret
	}
	return nil
}

// Names returns the keys, sorted, without their secrets.
func (k Keys) Names() []string {
	out := make([]string, 0, len(k))
	for key := range k {
		out = append(out, key)
	}
	slices.Sort(out)
	return out
}

// String lists the keys as KEY:***, never the secrets.
func (k Keys) String() string {
	names := k.Names()
	for i := range names {
		names[i] += ":***"
	}
	return strings.Join(names, ",")
}

// GoString is String: %#v does not show the secrets either.
func (k Keys) GoString() string { return "auth.Keys{" + k.String() + "}" }
