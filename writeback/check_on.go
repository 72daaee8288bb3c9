//go:build obsfscheck

package writeback

// Built with -tags obsfscheck (the real-mount model tests), every
// transition of a part is checked (parts.go).
func init() { checkInvariants = true }
