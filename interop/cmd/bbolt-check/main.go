// bbolt-check opens a bbolt file read-only with go.etcd.io/bbolt (the version Trivy links), runs
// bbolt's own consistency check (tx.Check) and prints one JSON document on stdout:
//
//	{"check":[...error strings...],"pageSize":4096,"size":N,"stats":{<top-level name hex>:{...}},
//	 "buckets":[{"k":"<hex>","root":<pgid, 0 = inline>,"items":[...]}, ...]}
//
// where an item is {"k":"<hex>","v":"<hex>"} for a key/value and {"k","root","items"} for a
// nested bucket. With -no-dump only check, sizes and stats are printed. With -rw it also copies
// the file, opens the copy read-write, adds a bucket and a key, commits and checks again (errors
// go to "rwCheck"), which proves the file is usable by a writer (freelist, metas, high-water mark).
// With -compact it compacts the file with bbolt.Compact into a fresh one and reports that file's
// per-bucket statistics as "compactStats" (to compare the page packing).
package main

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

type item struct {
	K     string  `json:"k"`
	V     *string `json:"v,omitempty"`
	Root  *uint64 `json:"root,omitempty"`
	Items *[]item `json:"items,omitempty"`
}

type stats struct {
	BranchPageN    int `json:"branchPageN"`
	BranchOverflow int `json:"branchOverflowN"`
	LeafPageN      int `json:"leafPageN"`
	LeafOverflowN  int `json:"leafOverflowN"`
	KeyN           int `json:"keyN"`
	Depth          int `json:"depth"`
	BucketN        int `json:"bucketN"`
	InlineBucketN  int `json:"inlineBucketN"`
}

type report struct {
	Check    []string         `json:"check"`
	RWCheck  *[]string        `json:"rwCheck,omitempty"`
	PageSize int              `json:"pageSize"`
	Size     int64            `json:"size"`
	Stats    map[string]stats `json:"stats"`
	// With -compact: the same statistics after bbolt's own Compact (FillPercent 1.0, one
	// transaction) of the file into a fresh one — equal to "stats" when pages are packed like it.
	CompactStats map[string]stats `json:"compactStats,omitempty"`
	// With -compact: pages of the compacted file in use (high-water mark minus free/pending pages).
	CompactUsedPages int    `json:"compactUsedPages,omitempty"`
	Buckets          []item `json:"buckets,omitempty"`
}

func walk(b *bolt.Bucket) []item {
	items := []item{}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		it := item{K: hex.EncodeToString(k)}
		if child := b.Bucket(k); child != nil {
			root := uint64(child.RootPage())
			it.Root = &root
			sub := walk(child)
			it.Items = &sub
		} else {
			s := hex.EncodeToString(v)
			it.V = &s
		}
		items = append(items, it)
	}
	return items
}

func bucketStats(tx *bolt.Tx) map[string]stats {
	out := map[string]stats{}
	_ = tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		s := b.Stats()
		out[hex.EncodeToString(name)] = stats{
			BranchPageN: s.BranchPageN, BranchOverflow: s.BranchOverflowN, LeafPageN: s.LeafPageN,
			LeafOverflowN: s.LeafOverflowN, KeyN: s.KeyN, Depth: s.Depth, BucketN: s.BucketN,
			InlineBucketN: s.InlineBucketN,
		}
		return nil
	})
	return out
}

func compactStats(src *bolt.DB) (map[string]stats, int, error) {
	dir, err := os.MkdirTemp("", "bbolt-check-compact")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(dir)
	dst, err := bolt.Open(filepath.Join(dir, "compact.db"), 0o600, nil)
	if err != nil {
		return nil, 0, err
	}
	defer dst.Close()
	if err := bolt.Compact(dst, src, 0); err != nil {
		return nil, 0, err
	}
	var out map[string]stats
	var used int
	err = dst.View(func(tx *bolt.Tx) error {
		out = bucketStats(tx)
		st := dst.Stats()
		used = int(tx.Size()/int64(dst.Info().PageSize)) - st.FreePageN - st.PendingPageN
		return nil
	})
	return out, used, err
}

func check(tx *bolt.Tx) []string {
	errs := []string{}
	for err := range tx.Check() {
		errs = append(errs, err.Error())
	}
	return errs
}

func rwProbe(path string) ([]string, error) {
	dir, err := os.MkdirTemp("", "bbolt-check-rw")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cp := filepath.Join(dir, "copy.db")
	in, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	out, err := os.Create(cp)
	if err == nil {
		_, err = io.Copy(out, in)
		out.Close()
	}
	in.Close()
	if err != nil {
		return nil, err
	}
	db, err := bolt.Open(cp, 0o600, nil)
	if err != nil {
		return nil, fmt.Errorf("open read-write: %w", err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("\xff-bbolt-check-probe"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	var errs []string
	err = db.View(func(tx *bolt.Tx) error {
		errs = check(tx)
		if tx.Bucket([]byte("\xff-bbolt-check-probe")).Get([]byte("k")) == nil {
			errs = append(errs, "probe key not readable after commit")
		}
		return nil
	})
	return errs, err
}

func main() {
	noDump := flag.Bool("no-dump", false, "print only the check result, sizes and stats")
	rw := flag.Bool("rw", false, "also open a copy read-write, commit a change and check again")
	compact := flag.Bool("compact", false, "also report the bucket statistics after bbolt.Compact")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: bbolt-check [-no-dump] [-rw] <file.db>")
		os.Exit(2)
	}
	path := flag.Arg(0)
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	r := report{PageSize: db.Info().PageSize}
	err = db.View(func(tx *bolt.Tx) error {
		r.Check = check(tx)
		r.Size = tx.Size()
		r.Stats = bucketStats(tx)
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if !*noDump {
				root := uint64(b.RootPage())
				items := walk(b)
				r.Buckets = append(r.Buckets, item{K: hex.EncodeToString(name), Root: &root, Items: &items})
			}
			return nil
		})
	})
	if err == nil && *compact {
		r.CompactStats, r.CompactUsedPages, err = compactStats(db)
	}
	db.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "view:", err)
		os.Exit(1)
	}
	if *rw {
		errs, err := rwProbe(path)
		if err != nil {
			errs = append(errs, err.Error())
		}
		if errs == nil {
			errs = []string{}
		}
		r.RWCheck = &errs
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(r); err != nil {
		fmt.Fprintln(os.Stderr, "encode:", err)
		os.Exit(1)
	}
}
