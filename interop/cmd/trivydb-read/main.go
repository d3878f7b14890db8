// trivydb-read opens a Trivy DB directory (trivy.db + metadata.json) with trivy-db's own packages
// (the version trivy v0.74.0 requires) and reads it the way Trivy's detectors do:
//
//   - language packages: db.Config{}.GetAdvisories("<ecosystem>::", NormalizePkgName(eco, name))
//     (trivy pkg/detector/library/driver.go: every root bucket with that prefix, data source attached);
//   - Alpine: alpine.NewVulnSrc().Get(db.GetParams{Release, PkgName}) (bucket "alpine <release>");
//   - vulnerability details: db.Config{}.GetVulnerability(id);
//   - metadata: metadata.NewClient(dir).Get().
//
// Input: a JSON file {"dir": "...", "lang": [{"ecosystem": "npm", "pkg": "lodash"}],
// "alpine": [{"release": "3.10", "pkg": "openssl"}], "vulnerabilities": ["CVE-…"]}.
// Output (stdout, JSON): {"metadata": {...}, "lang": [{"ecosystem","pkg","normalized","advisories"}],
// "alpine": [{"release","pkg","advisories"}], "vulnerabilities": {"<id>": {...} | {"error": "..."}}}
// with advisories sorted by (DataSource.Name, VulnerabilityID). Exits non-zero if the DB cannot be opened.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	bolt "go.etcd.io/bbolt"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/ecosystem"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/alpine"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/vulnerability"
)

type input struct {
	Dir  string `json:"dir"`
	Lang []struct {
		Ecosystem string `json:"ecosystem"`
		Pkg       string `json:"pkg"`
	} `json:"lang"`
	Alpine []struct {
		Release string `json:"release"`
		Pkg     string `json:"pkg"`
	} `json:"alpine"`
	Vulnerabilities []string `json:"vulnerabilities"`
}

type langResult struct {
	Ecosystem  string           `json:"ecosystem"`
	Pkg        string           `json:"pkg"`
	Normalized string           `json:"normalized"`
	Advisories []types.Advisory `json:"advisories"`
	Error      string           `json:"error,omitempty"`
}

type alpineResult struct {
	Release    string           `json:"release"`
	Pkg        string           `json:"pkg"`
	Advisories []types.Advisory `json:"advisories"`
	Error      string           `json:"error,omitempty"`
}

type output struct {
	Metadata        metadata.Metadata `json:"metadata"`
	Lang            []langResult      `json:"lang"`
	Alpine          []alpineResult    `json:"alpine"`
	Vulnerabilities map[string]any    `json:"vulnerabilities"`
}

func sorted(advs []types.Advisory) []types.Advisory {
	if advs == nil {
		return []types.Advisory{}
	}
	sort.Slice(advs, func(i, j int) bool {
		ni, nj := "", ""
		if advs[i].DataSource != nil {
			ni = advs[i].DataSource.Name
		}
		if advs[j].DataSource != nil {
			nj = advs[j].DataSource.Name
		}
		if ni != nj {
			return ni < nj
		}
		return advs[i].VulnerabilityID < advs[j].VulnerabilityID
	})
	return advs
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: trivydb-read <query.json>")
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("read query: %v", err)
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		fail("parse query: %v", err)
	}
	meta, err := metadata.NewClient(in.Dir).Get()
	if err != nil {
		fail("metadata: %v", err)
	}
	// Trivy opens the DB read-only (pkg/db.Init in trivy passes bolt.Options{ReadOnly: true}).
	if err := db.Init(in.Dir, db.WithBoltOptions(&bolt.Options{ReadOnly: true})); err != nil {
		fail("db.Init: %v", err)
	}
	defer db.Close()

	dbc := db.Config{}
	out := output{Metadata: meta, Lang: []langResult{}, Alpine: []alpineResult{}, Vulnerabilities: map[string]any{}}
	for _, q := range in.Lang {
		eco := ecosystem.Type(q.Ecosystem)
		name := vulnerability.NormalizePkgName(eco, q.Pkg)
		advs, err := dbc.GetAdvisories(fmt.Sprintf("%s::", eco), name)
		r := langResult{Ecosystem: q.Ecosystem, Pkg: q.Pkg, Normalized: name, Advisories: sorted(advs)}
		if err != nil {
			r.Error = err.Error()
		}
		out.Lang = append(out.Lang, r)
	}
	vs := alpine.NewVulnSrc()
	for _, q := range in.Alpine {
		advs, err := vs.Get(db.GetParams{Release: q.Release, PkgName: q.Pkg})
		r := alpineResult{Release: q.Release, Pkg: q.Pkg, Advisories: sorted(advs)}
		if err != nil {
			r.Error = err.Error()
		}
		out.Alpine = append(out.Alpine, r)
	}
	for _, id := range in.Vulnerabilities {
		v, err := dbc.GetVulnerability(id)
		if err != nil {
			out.Vulnerabilities[id] = map[string]string{"error": err.Error()}
		} else {
			out.Vulnerabilities[id] = v
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("encode: %v", err)
	}
}
