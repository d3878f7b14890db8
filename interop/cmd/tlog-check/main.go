// tlog-check runs the Go reference implementations against the transparency log this project
// writes (issue 12): golang.org/x/mod/sumdb/note for signed notes, transparency-dev/formats for
// checkpoints, transparency-dev/merkle for proofs and roots, and golang.org/x/mod/sumdb/tlog for
// tiles (its TileHashReader authenticates every tile it loads against the tree hash).
//
//	tlog-check note -vkey <vkey> -in <note file>
//	tlog-check checkpoint -vkey <vkey> -origin <origin> -in <note file>
//	tlog-check sign -skey <skey> -in <text file>
//	tlog-check proofs -in <json file>
//	tlog-check tiles -dir <dir with tile/…> -size <n> -root <base64>
//	tlog-check vectors -n <max tree size> [-nonempty]
//	tlog-check cosig-verify -vkey <witness vkey> -in <note file>
//	tlog-check cosign -skey <witness skey> -in <note file>
//	tlog-check serve -url <…/evidence/log> -token <JWT> -tenant <id> -vkey <vkey> -origin <origin>
//	           [-bundle <bundle id>] [-held <note file>,…]
//
// cosig-verify and cosign use transparency-dev/formats/note (C2SP tlog-cosignature v1, Ed25519
// type 0x04) with x/mod note.Open / note.Sign.
//
// serve reads a running server over HTTP, as an auditor's client would: the checkpoint (parsed
// and signature-checked by transparency-dev/formats + x/mod note), tiles fetched from the tile
// route and authenticated by x/mod tlog's TileHashReader against the checkpoint, the served
// inclusion proofs of one bundle's entries (verified with transparency-dev/merkle, and recomputed
// with x/mod tlog from the tiles), and for each held checkpoint the served consistency proof to
// the latest (verified and recomputed the same way).
//
// Results are JSON on stdout; failures exit 1 with {"error": …} on stdout.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func out(v any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func fail(kind string, err error) {
	out(map[string]string{"error": err.Error(), "kind": kind})
	os.Exit(1)
}

func mustRead(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		fail("usage", err)
	}
	return b
}

func main() {
	if len(os.Args) < 2 {
		fail("usage", errors.New("subcommand required"))
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	vkey := fs.String("vkey", "", "verifier key")
	skey := fs.String("skey", "", "signer key")
	origin := fs.String("origin", "", "checkpoint origin")
	in := fs.String("in", "", "input file")
	dir := fs.String("dir", "", "tile directory")
	size := fs.Int64("size", 0, "tree size")
	root := fs.String("root", "", "root hash, base64")
	n := fs.Int("n", 16, "max tree size for vectors")
	url := fs.String("url", "", "serve: base URL of the log routes")
	token := fs.String("token", "", "serve: bearer token")
	tenant := fs.String("tenant", "", "serve: X-Stella-Tenant")
	bundle := fs.String("bundle", "", "serve: bundle id whose entries to check")
	held := fs.String("held", "", "serve: comma-separated held checkpoint note files")
	nonEmpty := fs.Bool("nonempty", false, "vectors: replace the empty first RFC 6962 leaf (log entries are non-empty)")
	_ = fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "note":
		cmdNote(*vkey, mustRead(*in))
	case "checkpoint":
		cmdCheckpoint(*vkey, *origin, mustRead(*in))
	case "sign":
		cmdSign(*skey, mustRead(*in))
	case "proofs":
		cmdProofs(mustRead(*in))
	case "tiles":
		cmdTiles(*dir, *size, *root)
	case "vectors":
		cmdVectors(*n, *nonEmpty)
	case "cosig-verify":
		cmdCosigVerify(*vkey, mustRead(*in))
	case "cosign":
		cmdCosign(*skey, mustRead(*in))
	case "serve":
		cmdServe(&httpLog{base: *url, token: *token, tenant: *tenant}, *vkey, *origin, *bundle, *held)
	default:
		fail("usage", fmt.Errorf("unknown subcommand %q", os.Args[1]))
	}
}

type sigJSON struct {
	Name string `json:"name"`
	Hash uint32 `json:"hash"`
}

func sigs(s []note.Signature) []sigJSON {
	r := []sigJSON{}
	for _, x := range s {
		r = append(r, sigJSON{x.Name, x.Hash})
	}
	return r
}

func cmdNote(vkey string, msg []byte) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		fail("vkey", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unv *note.UnverifiedNoteError
		var inv *note.InvalidSignatureError
		switch {
		case errors.As(err, &unv):
			fail("unverified", err)
		case errors.As(err, &inv):
			fail("invalid-signature", err)
		default:
			fail("malformed", err)
		}
	}
	out(map[string]any{"text": n.Text, "sigs": sigs(n.Sigs), "unverifiedSigs": sigs(n.UnverifiedSigs)})
}

func cmdCheckpoint(vkey, origin string, msg []byte) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		fail("vkey", err)
	}
	cp, rest, _, err := log.ParseCheckpoint(msg, origin, v)
	if err != nil {
		fail("checkpoint", err)
	}
	out(map[string]any{
		"origin": cp.Origin, "size": cp.Size, "hash": base64.StdEncoding.EncodeToString(cp.Hash),
		"rest": string(rest), "marshal": string(cp.Marshal()),
	})
}

func cmdSign(skey string, text []byte) {
	s, err := note.NewSigner(skey)
	if err != nil {
		fail("skey", err)
	}
	msg, err := note.Sign(&note.Note{Text: string(text)}, s)
	if err != nil {
		fail("sign", err)
	}
	out(map[string]string{"note": string(msg)})
}

type hexes []string

func (h hexes) bytes() [][]byte {
	r := make([][]byte, 0, len(h))
	for _, x := range h {
		b, err := hex.DecodeString(x)
		if err != nil {
			fail("usage", err)
		}
		r = append(r, b)
	}
	return r
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		fail("usage", err)
	}
	return b
}

type proofsIn struct {
	Inclusion []struct {
		Index    uint64 `json:"index"`
		Size     uint64 `json:"size"`
		LeafHash string `json:"leafHash"`
		Proof    hexes  `json:"proof"`
		Root     string `json:"root"`
	} `json:"inclusion"`
	Consistency []struct {
		Size1 uint64 `json:"size1"`
		Size2 uint64 `json:"size2"`
		Proof hexes  `json:"proof"`
		Root1 string `json:"root1"`
		Root2 string `json:"root2"`
	} `json:"consistency"`
	// Leaves, when given, are hashed with rfc6962 and every prefix root reported (compact range).
	Leaves []string `json:"leaves"`
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func cmdProofs(data []byte) {
	var p proofsIn
	if err := json.Unmarshal(data, &p); err != nil {
		fail("usage", err)
	}
	h := rfc6962.DefaultHasher
	incl := []string{}
	for _, x := range p.Inclusion {
		incl = append(incl, errString(proof.VerifyInclusion(h, x.Index, x.Size, unhex(x.LeafHash), x.Proof.bytes(), unhex(x.Root))))
	}
	cons := []string{}
	for _, x := range p.Consistency {
		cons = append(cons, errString(proof.VerifyConsistency(h, x.Size1, x.Size2, x.Proof.bytes(), unhex(x.Root1), unhex(x.Root2))))
	}
	rf := compact.RangeFactory{Hash: h.HashChildren}
	r := rf.NewEmptyRange(0)
	roots := []string{}
	for _, l := range p.Leaves {
		if err := r.Append(h.HashLeaf(unhex(l)), nil); err != nil {
			fail("compact", err)
		}
		rt, err := r.GetRootHash(nil)
		if err != nil {
			fail("compact", err)
		}
		roots = append(roots, hex.EncodeToString(rt))
	}
	out(map[string]any{"inclusion": incl, "consistency": cons, "roots": roots})
}

// ourPath maps x/mod's tile path (tile/8/L/N[.p/W], tile/8/data/N[.p/W]) to C2SP's
// (tile/L/N[.p/W], tile/entries/N[.p/W]).
func ourPath(t tlog.Tile) string {
	p := t.Path()
	p = strings.Replace(p, "tile/8/data/", "tile/entries/", 1)
	return strings.Replace(p, "tile/8/", "tile/", 1)
}

type dirReader struct {
	dir   string
	reads int
}

func (d *dirReader) Height() int { return 8 }
func (d *dirReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	r := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(ourPath(t))))
		if err != nil {
			return nil, err
		}
		d.reads++
		r[i] = b
	}
	return r, nil
}
func (d *dirReader) SaveTiles([]tlog.Tile, [][]byte) {}

func parseBundle(b []byte) ([][]byte, error) {
	var r [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errors.New("truncated length")
		}
		n := int(b[0])<<8 | int(b[1])
		if len(b) < 2+n {
			return nil, errors.New("truncated entry")
		}
		r = append(r, b[2:2+n])
		b = b[2+n:]
	}
	return r, nil
}

func cmdTiles(dir string, size int64, rootB64 string) {
	rootBytes, err := base64.StdEncoding.DecodeString(rootB64)
	if err != nil || len(rootBytes) != tlog.HashSize {
		fail("usage", fmt.Errorf("bad root"))
	}
	var th tlog.Hash
	copy(th[:], rootBytes)
	tree := tlog.Tree{N: size, Hash: th}
	dr := &dirReader{dir: dir}
	hr := tlog.TileHashReader(tree, dr)
	// 1. x/mod authenticates the tiles it needs for the tree hash.
	got, err := tlog.TreeHash(size, hr)
	if err != nil {
		fail("tree-hash", err)
	}
	if got != th {
		fail("tree-hash", fmt.Errorf("tree hash %s != %s", got, th))
	}
	// 2. Recompute every stored hash from the entry bundles (x/mod StoredHashes), and every
	// tile (x/mod ReadTileData) from those; each must equal our tile bytes.
	var stored []tlog.Hash
	mem := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		r := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= int64(len(stored)) {
				return nil, fmt.Errorf("hash %d not computed", x)
			}
			r[i] = stored[x]
		}
		return r, nil
	})
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	cr := rf.NewEmptyRange(0)
	var i int64
	for b := int64(0); b*256 < size; b++ {
		w := int64(256)
		if size-b*256 < 256 {
			w = size - b*256
		}
		t := tlog.Tile{H: 8, L: -1, N: b, W: int(w)}
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(ourPath(t))))
		if err != nil {
			fail("missing", err)
		}
		entries, err := parseBundle(data)
		if err != nil || int64(len(entries)) != w {
			fail("bundle", fmt.Errorf("%s: %d entries, %v", ourPath(t), len(entries), err))
		}
		for _, e := range entries {
			hs, err := tlog.StoredHashes(i, e, mem)
			if err != nil {
				fail("stored-hashes", err)
			}
			stored = append(stored, hs...)
			if err := cr.Append(rfc6962.DefaultHasher.HashLeaf(e), nil); err != nil {
				fail("compact", err)
			}
			i++
		}
	}
	tiles := tlog.NewTiles(8, 0, size)
	checked := 0
	for _, t := range tiles {
		if t.L < 0 {
			continue
		}
		want, err := tlog.ReadTileData(t, mem)
		if err != nil {
			fail("read-tile-data", err)
		}
		have, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(ourPath(t))))
		if err != nil {
			fail("missing", err)
		}
		if !bytes.Equal(want, have) {
			fail("tile-mismatch", fmt.Errorf("%s differs from the hashes recomputed from the entries", ourPath(t)))
		}
		checked++
	}
	cRoot, err := cr.GetRootHash(nil)
	if err != nil {
		fail("compact", err)
	}
	if size > 0 && !bytes.Equal(cRoot, rootBytes) {
		fail("compact-root", errors.New("transparency-dev compact range root differs from the checkpoint root"))
	}
	// 3. Record proofs through the authenticating tile reader, checked with x/mod's CheckRecord.
	for _, idx := range []int64{0, size / 3, size / 2, size - 1} {
		if idx < 0 || idx >= size {
			continue
		}
		p, err := tlog.ProveRecord(size, idx, hr)
		if err != nil {
			fail("prove-record", err)
		}
		if err := tlog.CheckRecord(p, size, th, idx, stored[tlog.StoredHashIndex(0, idx)]); err != nil {
			fail("check-record", err)
		}
	}
	out(map[string]any{"treeHash": base64.StdEncoding.EncodeToString(got[:]), "tilesChecked": checked, "entries": i, "tileReads": dr.reads})
}

func cmdVectors(n int, nonEmpty bool) {
	h := rfc6962.DefaultHasher
	t := testonly.New(h)
	leaves := testonly.LeafInputs()
	for i := len(leaves); i < n; i++ {
		leaves = append(leaves, []byte(fmt.Sprintf("leaf %d", i)))
	}
	type incl struct {
		Index    uint64   `json:"index"`
		Size     uint64   `json:"size"`
		LeafHash string   `json:"leafHash"`
		Proof    []string `json:"proof"`
		Root     string   `json:"root"`
	}
	type cons struct {
		Size1 uint64   `json:"size1"`
		Size2 uint64   `json:"size2"`
		Proof []string `json:"proof"`
		Root1 string   `json:"root1"`
		Root2 string   `json:"root2"`
	}
	hx := func(bs [][]byte) []string {
		r := []string{}
		for _, b := range bs {
			r = append(r, hex.EncodeToString(b))
		}
		return r
	}
	if nonEmpty {
		leaves[0] = []byte("leaf 0")
	}
	t.AppendData(leaves[:n]...)
	var is []incl
	var cs []cons
	for size := uint64(1); size <= uint64(n); size++ {
		for i := uint64(0); i < size; i++ {
			p, err := t.InclusionProof(i, size)
			if err != nil {
				fail("vectors", err)
			}
			is = append(is, incl{i, size, hex.EncodeToString(t.LeafHash(i)), hx(p), hex.EncodeToString(t.HashAt(size))})
		}
		for s1 := uint64(1); s1 <= size; s1++ {
			p, err := t.ConsistencyProof(s1, size)
			if err != nil {
				fail("vectors", err)
			}
			cs = append(cs, cons{s1, size, hx(p), hex.EncodeToString(t.HashAt(s1)), hex.EncodeToString(t.HashAt(size))})
		}
	}
	out(map[string]any{"leaves": hx(leaves[:n]), "emptyRoot": hex.EncodeToString(testonly.EmptyRootHash()), "inclusion": is, "consistency": cs})
}

// cmdCosigVerify opens the note with the witness key only: the log's own signature is an unknown
// key to it (ignored), the witness's cosignature/v1 line must verify.
func cmdCosigVerify(vkey string, msg []byte) {
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		fail("vkey", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unv *note.UnverifiedNoteError
		var inv *note.InvalidSignatureError
		switch {
		case errors.As(err, &unv):
			fail("unverified", err)
		case errors.As(err, &inv):
			fail("invalid-signature", err)
		default:
			fail("malformed", err)
		}
	}
	times := []int64{}
	for _, s := range n.Sigs {
		t, err := fnote.CoSigV1Timestamp(s)
		if err != nil {
			fail("timestamp", err)
		}
		times = append(times, t.Unix())
	}
	out(map[string]any{"text": n.Text, "sigs": sigs(n.Sigs), "timestamps": times, "unverifiedSigs": sigs(n.UnverifiedSigs)})
}

// cmdCosign adds a cosignature/v1 line by the Go signer after the note's existing lines.
func cmdCosign(skey string, msg []byte) {
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		fail("skey", err)
	}
	// Open with the witness's own verifier: every existing line is unknown to it and kept.
	n, err := note.Open(msg, note.VerifierList(s.Verifier()))
	var unv *note.UnverifiedNoteError
	if errors.As(err, &unv) {
		n = unv.Note
	} else if err != nil {
		fail("malformed", err)
	}
	existing := append([]note.Signature{}, n.Sigs...)
	existing = append(existing, n.UnverifiedSigs...)
	signed, err := note.Sign(&note.Note{Text: n.Text, Sigs: existing}, s)
	if err != nil {
		fail("sign", err)
	}
	out(map[string]any{"note": string(signed), "vkey": s.Verifier().Name(), "hash": s.KeyHash()})
}

// httpLog is a client of the server's log routes.
type httpLog struct {
	base, token, tenant string
	reads               int
}

func (h *httpLog) get(path string) ([]byte, int, error) {
	req, err := http.NewRequest("GET", h.base+path, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("X-Stella-Tenant", h.tenant)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return b, res.StatusCode, err
}

func (h *httpLog) mustGet(kind, path string) []byte {
	b, code, err := h.get(path)
	if err != nil {
		fail(kind, err)
	}
	if code != 200 {
		fail(kind, fmt.Errorf("GET %s: %d %s", path, code, b))
	}
	return b
}

func (h *httpLog) Height() int { return 8 }
func (h *httpLog) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	r := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, code, err := h.get("/" + ourPath(t))
		if err != nil {
			return nil, err
		}
		if code != 200 {
			return nil, fmt.Errorf("GET %s: %d", ourPath(t), code)
		}
		h.reads++
		r[i] = b
	}
	return r, nil
}
func (h *httpLog) SaveTiles([]tlog.Tile, [][]byte) {}

func b64s(xs []string) [][]byte {
	r := make([][]byte, 0, len(xs))
	for _, x := range xs {
		b, err := base64.StdEncoding.DecodeString(x)
		if err != nil {
			fail("usage", err)
		}
		r = append(r, b)
	}
	return r
}

func toHash(b []byte) tlog.Hash {
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func proofHashes(bs [][]byte) []tlog.Hash {
	r := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		r[i] = toHash(b)
	}
	return r
}

func cmdServe(h *httpLog, vkey, origin, bundle, held string) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		fail("vkey", err)
	}
	cp, _, _, err := log.ParseCheckpoint(h.mustGet("checkpoint", "/checkpoint"), origin, v)
	if err != nil {
		fail("checkpoint", err)
	}
	size := int64(cp.Size)
	tree := tlog.Tree{N: size, Hash: toHash(cp.Hash)}
	hr := tlog.TileHashReader(tree, h)
	if th, err := tlog.TreeHash(size, hr); err != nil || th != tree.Hash {
		fail("tree-hash", fmt.Errorf("tiles do not give the checkpoint root: %v", err))
	}
	hasher := rfc6962.DefaultHasher
	type entryOut struct {
		Type  string `json:"type"`
		Index int64  `json:"index"`
	}
	entries := []entryOut{}
	if bundle != "" {
		var body struct {
			Size    int64 `json:"size"`
			Entries []struct {
				Type           string `json:"type"`
				Entry          string `json:"entry"`
				Index          *int64 `json:"index"`
				InclusionProof *struct {
					Index  int64    `json:"index"`
					Size   int64    `json:"size"`
					Hashes []string `json:"hashes"`
				} `json:"inclusionProof"`
			} `json:"entries"`
		}
		if err := json.Unmarshal(h.mustGet("inclusion", "/proof/inclusion?bundleId="+bundle), &body); err != nil {
			fail("inclusion", err)
		}
		for _, e := range body.Entries {
			p := e.InclusionProof
			if p == nil || e.Index == nil {
				fail("inclusion", fmt.Errorf("%s entry has no inclusion proof", e.Type))
			}
			// The served proof must be for the checkpoint read above (nothing integrates meanwhile in the tests).
			if p.Size != size || body.Size != size {
				fail("inclusion", fmt.Errorf("proof for size %d, checkpoint %d", p.Size, size))
			}
			data, err := base64.StdEncoding.DecodeString(e.Entry)
			if err != nil {
				fail("inclusion", err)
			}
			// The served proof, by transparency-dev/merkle.
			if err := proof.VerifyInclusion(hasher, uint64(p.Index), uint64(p.Size), hasher.HashLeaf(data), b64s(p.Hashes), cp.Hash); err != nil {
				fail("inclusion", fmt.Errorf("%s entry %d: %v", e.Type, p.Index, err))
			}
			// Recomputed by x/mod tlog from the authenticated tiles, and the record hash it holds.
			rp, err := tlog.ProveRecord(size, p.Index, hr)
			if err != nil {
				fail("prove-record", err)
			}
			if err := tlog.CheckRecord(rp, size, tree.Hash, p.Index, tlog.RecordHash(data)); err != nil {
				fail("check-record", fmt.Errorf("%s entry %d: %v", e.Type, p.Index, err))
			}
			if len(rp) != len(p.Hashes) {
				fail("prove-record", fmt.Errorf("x/mod proof has %d hashes, served %d", len(rp), len(p.Hashes)))
			}
			for i, x := range proofHashes(b64s(p.Hashes)) {
				if x != rp[i] {
					fail("prove-record", fmt.Errorf("served proof hash %d differs from x/mod's", i))
				}
			}
			// The entry bundle served holds exactly these bytes at that index.
			t := tlog.Tile{H: 8, L: -1, N: p.Index / 256, W: int(min(256, size-(p.Index/256)*256))}
			eb, err := parseBundle(h.mustGet("entries", "/"+ourPath(t)))
			if err != nil || int64(len(eb)) <= p.Index%256 || !bytes.Equal(eb[p.Index%256], data) {
				fail("entries", fmt.Errorf("%s does not hold entry %d as served", ourPath(t), p.Index))
			}
			entries = append(entries, entryOut{e.Type, p.Index})
		}
	}
	type consOut struct {
		From int64 `json:"from"`
		To   int64 `json:"to"`
	}
	cons := []consOut{}
	if held != "" {
		for _, f := range strings.Split(held, ",") {
			old, _, _, err := log.ParseCheckpoint(mustRead(f), origin, v)
			if err != nil {
				fail("held", err)
			}
			var body struct {
				OldSize int64    `json:"oldSize"`
				NewSize int64    `json:"newSize"`
				Hashes  []string `json:"hashes"`
			}
			q := fmt.Sprintf("/proof/consistency?from=%d&to=%d", old.Size, size)
			if err := json.Unmarshal(h.mustGet("consistency", q), &body); err != nil {
				fail("consistency", err)
			}
			if body.OldSize != int64(old.Size) || body.NewSize != size {
				fail("consistency", fmt.Errorf("proof for %d→%d", body.OldSize, body.NewSize))
			}
			if err := proof.VerifyConsistency(hasher, old.Size, uint64(size), b64s(body.Hashes), old.Hash, cp.Hash); err != nil {
				fail("consistency", fmt.Errorf("%d → %d: %v", old.Size, size, err))
			}
			tp, err := tlog.ProveTree(size, int64(old.Size), hr)
			if err != nil {
				fail("prove-tree", err)
			}
			if err := tlog.CheckTree(tp, size, tree.Hash, int64(old.Size), toHash(old.Hash)); err != nil {
				fail("check-tree", fmt.Errorf("%d → %d: %v", old.Size, size, err))
			}
			cons = append(cons, consOut{int64(old.Size), size})
		}
	}
	out(map[string]any{"origin": cp.Origin, "size": size, "entries": entries, "consistency": cons, "tileReads": h.reads})
}
