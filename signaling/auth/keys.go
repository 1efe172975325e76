package auth

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
)

// MinSecretLen is the shortest secret accepted, as LiveKit requires: an HS256 key of fewer bytes can be
// guessed offline from one token.
const MinSecretLen = 32

// Keys are the API keys and their secrets (key -> secret). A token's "iss" picks its secret. Empty Keys
// mean tokens are off. Keys are read-only once loaded: Verify and Sign may then be called from any
// number of goroutines, but Merge, or writing to the map, must not run alongside them. However Keys
// are formatted (fmt with any verb, slog, JSON), only the key names show, as KEY:***; never the secrets.
type Keys map[string]string

// ParseKeys reads "KEY:SECRET,KEY2:SECRET2" (spaces around the parts are ignored; "" gives no keys).
// Keys must be unique, without spaces, and secrets at least MinSecretLen bytes. Errors never show a
// secret.
func ParseKeys(s string) (Keys, error) {
	k, _, err := parseList(s)
	return k, err
}

// parseList is ParseKeys, which also returns the first key.
func parseList(s string) (Keys, string, error) {
	k := Keys{}
	var first string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		key, err := k.add(part, false)
		if err != nil {
			return nil, "", err
		}
		if first == "" {
			first = key
		}
	}
	return k, first, nil
}

// add adds one "KEY:SECRET" (or "KEY: SECRET") and returns the key. In a key file (yaml), a secret may
// be quoted and followed by a " #" comment, as in YAML.
func (k Keys) add(pair string, yaml bool) (string, error) {
	key, secret, ok := strings.Cut(pair, ":")
	key, secret = strings.TrimSpace(key), strings.TrimSpace(secret)
	if yaml {
		if i := strings.Index(secret, " #"); i >= 0 {
			secret = strings.TrimSpace(secret[:i])
		}
		if len(secret) >= 2 && (secret[0] == '"' || secret[0] == '\'') && secret[len(secret)-1] == secret[0] {
			secret = secret[1 : len(secret)-1]
		}
	}
	switch {
	case !ok:
		return "", errors.New("api key: want KEY:SECRET")
	case key == "":
		return "", errors.New("api key: empty key before ':'")
	case strings.ContainsAny(key, " \t,:#\"'"):
		return "", fmt.Errorf("api key %q: no spaces, commas, colons, quotes or #", key)
	case secret == "":
		return "", fmt.Errorf("api key %q: empty secret", key)
	case len(secret) < MinSecretLen:
		return "", fmt.Errorf("api key %q: the secret has %d bytes, want at least %d (as LiveKit)", key, len(secret), MinSecretLen)
	}
	if _, dup := k[key]; dup {
		return "", fmt.Errorf("api key %q given twice", key)
	}
	k[key] = secret
	return key, nil
}

// LoadKeysFile reads keys from a file: one "KEY: SECRET" (or KEY:SECRET) per line, as LiveKit's key
// file (YAML: the secret may be quoted; # starts a comment); blank lines are skipped. The rules of
// ParseKeys apply, and a file without any key is an error, so that a truncated file cannot turn tokens
// off. Errors never show a secret.
func LoadKeysFile(path string) (Keys, error) {
	k, _, err := loadFile(path)
	return k, err
}

// loadFile is LoadKeysFile, which also returns the first key.
func loadFile(path string) (Keys, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("api keys file: %w", err)
	}
	defer f.Close()
	k := Keys{}
	var first string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, err := k.add(line, true)
		if err != nil {
			return nil, "", fmt.Errorf("api keys file %s line %d: %w", path, n, err)
		}
		if first == "" {
			first = key
		}
	}
	if err := sc.Err(); err != nil {
		return nil, "", fmt.Errorf("api keys file %s: %w", path, err)
	}
	if len(k) == 0 {
		return nil, "", fmt.Errorf("api keys file %s: no keys", path)
	}
	return k, first, nil
}

// LoadKeys reads the keys of a "KEY:SECRET,..." list (ParseKeys) and of a key file (LoadKeysFile), either
// of which may be empty, into one set, and returns the key listed first: the list's first, else the
// file's. A key in both is an error.
func LoadKeys(list, file string) (k Keys, first string, err error) {
	k, first, err = parseList(list)
	if err != nil || file == "" {
		return k, first, err
	}
	fk, ffirst, err := loadFile(file)
	if err != nil {
		return nil, "", err
	}
	if err := k.Merge(fk); err != nil {
		return nil, "", err
	}
	if first == "" {
		first = ffirst
	}
	return k, first, nil
}

// Merge adds other's keys to k; a key in both is an error (and k is left unchanged).
func (k Keys) Merge(other Keys) error {
	for key := range other {
		if _, dup := k[key]; dup {
			return fmt.Errorf("api key %q given twice", key)
		}
	}
	for key, secret := range other {
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

// String lists the keys, sorted, as "KEY:***,KEY2:***", never the secrets.
func (k Keys) String() string {
	names := k.Names()
	for i := range names {
		names[i] += ":***"
	}
	return strings.Join(names, ",")
}

// Format makes fmt print String whatever the verb (%v, %+v, %#v, %d, ...): never the secrets.
func (k Keys) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", k.String())
		return
	}
	f.Write([]byte(k.String()))
}

// LogValue makes slog log String, never the secrets.
func (k Keys) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalText makes encoding/json (and other encoders) write String, never the secrets. Keys cannot be
// read back from it.
func (k Keys) MarshalText() ([]byte, error) { return []byte(k.String()), nil }
