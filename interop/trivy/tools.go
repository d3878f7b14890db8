//go:build tools

// Package trivy pins the real Trivy CLI (github.com/aquasecurity/trivy/cmd/trivy) for the interop
// tests: `go build -o <bin> github.com/aquasecurity/trivy/cmd/trivy` inside this module builds
// exactly the version in go.mod. A separate module so its large dependency graph stays out of the
// small harness module one level up. trivy v0.74.0's go.mod has no replace directives; if a
// later version adds some, repeat them here (go install refuses modules that have them).
package trivy

import _ "github.com/aquasecurity/trivy/cmd/trivy"
