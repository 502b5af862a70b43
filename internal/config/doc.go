// Package config loads, merges and validates the declarative configuration of
// server-impermanence: /etc/server-impermanence/config.toml plus the drop-ins
// in config.d/*.toml, merged in lexical order (later wins).
//
// Decoding is strict: unknown keys, wrong types, keys defined twice and every
// semantic rule (docs/config.md lists them) are reported together, each error naming the
// file, line, column and key path (see Error). The TOML is parsed with
// go-toml/v2's parser; the mapping onto the schema is done here over that parse
// tree because go-toml's Decoder stops at the first type error and does not
// keep positions for semantic checks.
//
// The package does no I/O beyond reading the files it is given and never
// executes anything, so it is safe on the boot path (generator, initrd).
package config
