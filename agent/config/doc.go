// Package config is the agent's configuration: one YAML file naming the
// device, where its state lives, the broker, the TUF repository, what to
// discover and the local policy.
//
// Decoding is strict: unknown fields are errors, and Validate reports every
// problem at once, each naming the field. Durations are strings ("90s").
// Secrets (SNMP communities and passphrases) redact themselves in logs.
// A Config is a plain value; it is safe for concurrent reads.
package config
