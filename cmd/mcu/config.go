package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Config is the server's configuration. Each field has a flag and an MCU_* environment variable of the
// same name (flag -http, variable MCU_HTTP); a JSON file given with -config may set any of them too.
type Config struct {
	// HTTP is the address the page, health check and signalling listen on.
	HTTP string `json:"http"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `json:"log_level"`
}

// DefaultConfig returns the configuration `make run` uses: every interface, port 8080, info logs.
func DefaultConfig() Config {
	return Config{HTTP: ":8080", LogLevel: "info"}
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	if c.HTTP == "" {
		return fmt.Errorf("http address is empty")
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel)
	}
	return nil
}

func (c Config) logLevel() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.LogLevel))
	return l
}

// loadConfig builds the configuration: defaults, then the -config file (strict: unknown fields are
// errors), then MCU_* environment variables, then flags, then Validate.
func loadConfig(args []string, getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("mcu", flag.ContinueOnError)
	file := fs.String("config", getenv("MCU_CONFIG"), "JSON configuration file (env MCU_CONFIG)")
	type setting struct {
		name, usage string
		dst         *string
	}
	settings := []setting{
		{"http", "HTTP listen address", &cfg.HTTP},
		{"log-level", "log level: debug, info, warn, error", &cfg.LogLevel},
	}
	flagVals := make(map[string]*string, len(settings))
	for _, s := range settings {
		flagVals[s.name] = fs.String(s.name, "", fmt.Sprintf("%s (env %s, default %q)", s.usage, envName(s.name), *s.dst))
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("parse config %s: %w", *file, err)
		}
	}
	for _, s := range settings {
		if v := getenv(envName(s.name)); v != "" {
			*s.dst = v
		}
	}
	fs.Visit(func(f *flag.Flag) {
		if v, ok := flagVals[f.Name]; ok {
			for _, s := range settings {
				if s.name == f.Name {
					*s.dst = *v
				}
			}
		}
	})
	return cfg, cfg.Validate()
}

func envName(flagName string) string {
	return "MCU_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
