// Package version holds the build's version facts, set by the Makefile with
// -ldflags "-X ...", and the API versions this build speaks.
package version

var (
	// Version is the Berth release.
	Version = "0.1.0-dev"
	// GitCommit is the commit the binaries were built from.
	GitCommit = "unknown"
	// BuildTime is when they were built (RFC 3339).
	BuildTime = ""
)

// API versions served. The docker CLI 28 negotiates down to APIVersion and
// docker-py 7.1 sends it by default; every version from MinAPIVersion on is
// accepted.
const (
	APIVersion    = "1.44"
	MinAPIVersion = "1.24"
)
