module github.com/stella-ops/export-evidence/interop

go 1.26
