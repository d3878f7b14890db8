// bbolt-write is the baseline of bench/trivy-db: it writes a bbolt file from a node stream the way
// trivy-db builds trivy.db — go.etcd.io/bbolt (the version Trivy links), default options, puts
// grouped into read-write transactions of -batch operations, each put creating its bucket path with
// CreateBucketIfNotExists (trivy-db's db.Put) — and then, with -compact, runs bbolt.Compact into a
// second file as upstream's Makefile does (`bbolt compact`) before publishing.
//
// Input (the file given as the first argument): the uncompressed change stream of a Trivy DB delta
// (docs/formats/trivy-db.md "Delta") holding only bucket (2) and put (1) operations — u8 op, u8
// depth, per path component u32be length + bytes, for put u32be length + value; end: u8 0 + u32be
// count. Output: one JSON line with phase times, CPU times, peak RSS and file sizes.
//
//	bbolt-write [-batch 10000] [-compact] <stream> <out.db>
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

type node struct {
	path   [][]byte
	value  []byte
	bucket bool
}

func readNode(r *bufio.Reader) (*node, error) {
	op, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	if op == 0 {
		return nil, io.EOF
	}
	depth, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	n := &node{bucket: op == 2}
	var lenBuf [4]byte
	for i := 0; i < int(depth); i++ {
		if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
			return nil, err
		}
		c := make([]byte, binary.BigEndian.Uint32(lenBuf[:]))
		if _, err := io.ReadFull(r, c); err != nil {
			return nil, err
		}
		n.path = append(n.path, c)
	}
	if op == 1 {
		if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
			return nil, err
		}
		n.value = make([]byte, binary.BigEndian.Uint32(lenBuf[:]))
		if _, err := io.ReadFull(r, n.value); err != nil {
			return nil, err
		}
	} else if op != 2 {
		return nil, fmt.Errorf("unexpected op %d", op)
	}
	return n, nil
}

// put creates the bucket path and stores the value, like trivy-db's db.Put.
func put(tx *bolt.Tx, n *node) error {
	names := n.path
	if !n.bucket {
		names = n.path[:len(n.path)-1]
	}
	b, err := tx.CreateBucketIfNotExists(names[0])
	if err != nil {
		return err
	}
	for _, name := range names[1:] {
		if b, err = b.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	if n.bucket {
		return nil
	}
	return b.Put(n.path[len(n.path)-1], n.value)
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return -1
	}
	return st.Size()
}

func main() {
	batch := flag.Int("batch", 10000, "operations per read-write transaction")
	compact := flag.Bool("compact", false, "then bbolt.Compact into <out.db>.compact")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: bbolt-write [-batch N] [-compact] <stream> <out.db>")
		os.Exit(2)
	}
	in, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer in.Close()
	r := bufio.NewReaderSize(in, 1<<20)
	db, err := bolt.Open(flag.Arg(1), 0o600, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	t0 := time.Now()
	ops := 0
	done := false
	for !done {
		err := db.Update(func(tx *bolt.Tx) error {
			for i := 0; i < *batch; i++ {
				n, err := readNode(r)
				if err == io.EOF {
					done = true
					return nil
				}
				if err != nil {
					return err
				}
				if err := put(tx, n); err != nil {
					return err
				}
				ops++
			}
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := db.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	writeMs := float64(time.Since(t0).Microseconds()) / 1000
	out := map[string]any{"operations": ops, "writeMs": writeMs, "bytes": fileSize(flag.Arg(1))}
	if *compact {
		t1 := time.Now()
		src, err := bolt.Open(flag.Arg(1), 0o400, &bolt.Options{ReadOnly: true})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		dst, err := bolt.Open(flag.Arg(1)+".compact", 0o600, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := bolt.Compact(dst, src, 0); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		src.Close()
		dst.Close()
		out["compactMs"] = float64(time.Since(t1).Microseconds()) / 1000
		out["compactBytes"] = fileSize(flag.Arg(1) + ".compact")
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		out["userMs"] = float64(ru.Utime.Sec)*1000 + float64(ru.Utime.Usec)/1000
		out["sysMs"] = float64(ru.Stime.Sec)*1000 + float64(ru.Stime.Usec)/1000
		out["maxRssKiB"] = ru.Maxrss
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
