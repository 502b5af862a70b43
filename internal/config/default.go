package config

import (
	_ "embed"
	"fmt"
)

//go:embed default.toml
var defaultTOML []byte

// DefaultTOML returns the built-in default configuration (the layout
// docs/config.md describes) as a commented TOML document.
func DefaultTOML() []byte { return append([]byte(nil), defaultTOML...) }

// Default returns the built-in default configuration, parsed and validated.
func Default() *Config {
	c, err := Parse(Source{Name: defaultSourceTag, Data: defaultTOML})
	if err != nil {
		panic(fmt.Sprintf("built-in default configuration is invalid: %v", err))
	}
	return c
}
