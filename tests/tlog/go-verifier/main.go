// Command go-verifier checks a Signstar signing log with an implementation we did not write: Go's
// golang.org/x/mod/sumdb/note (signed-note signatures) and golang.org/x/mod/sumdb/tlog (RFC 9162 record and
// tree proofs over tiles). It reads a C2SP tlog-tiles directory; Go's tile paths carry the tile height
// ("tile/8/<L>/<N>"), C2SP's do not ("tile/<L>/<N>"), so tile paths are mapped by dropping the height.
//
// Usage:
//
//	go-verifier <log dir> <verifier key> checkpoint
//	go-verifier <log dir> <verifier key> inclusion <index>
//	go-verifier <log dir> <verifier key> consistency <older checkpoint file>
//
// It prints "ok ..." and exits 0 when the check passes, prints the error and exits 1 otherwise.
package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

// parseCheckpoint reads the C2SP tlog-checkpoint body (origin, size, root hash); tlog.ParseTree only accepts
// the go.sum origin, so these three lines are parsed here.
func parseCheckpoint(text, origin string) (tlog.Tree, error) {
	lines := strings.Split(text, "\n")
	if len(lines) < 4 || lines[0] != origin {
		return tlog.Tree{}, fmt.Errorf("checkpoint: malformed or wrong origin")
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return tlog.Tree{}, fmt.Errorf("checkpoint: bad size")
	}
	h, err := tlog.ParseHash(lines[2])
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("checkpoint: bad hash")
	}
	return tlog.Tree{N: n, Hash: h}, nil
}

func openCheckpoint(data []byte, v note.Verifier) (tlog.Tree, error) {
	n, err := note.Open(data, note.VerifierList(v))
	if err != nil {
		return tlog.Tree{}, err
	}
	return parseCheckpoint(n.Text, v.Name())
}

// c2spPath maps a Go tile path (tile/8/L/N[.p/W], data tiles tile/8/data/N) to C2SP's (tile/L/N, tile/entries/N).
func c2spPath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", height))
	p = strings.Replace(p, "data/", "entries/", 1)
	return "tile/" + p
}

type dirTiles struct{ dir string }

func (d dirTiles) Height() int { return height }

func (d dirTiles) read(t tlog.Tile, size int) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(d.dir, c2spPath(t)))
	if errors.Is(err, os.ErrNotExist) && t.W < 1<<height {
		// A partial tile may have been deleted once its full tile existed (C2SP tlog-tiles).
		full := t
		full.W = 1 << height
		data, err = os.ReadFile(filepath.Join(d.dir, c2spPath(full)))
	}
	if err != nil {
		return nil, err
	}
	if size >= 0 && len(data) > size {
		data = data[:size]
	}
	return data, nil
}

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := d.read(t, t.W*tlog.HashSize)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (d dirTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// entry returns entry i of the tree of size n from its C2SP entry bundle (uint16 big-endian length prefixes).
func (d dirTiles) entry(n, i int64) ([]byte, error) {
	w := n - i/256*256
	if w > 256 {
		w = 256
	}
	t := tlog.Tile{H: height, L: -1, N: i / 256, W: int(w)}
	data, err := d.read(t, -1)
	if err != nil {
		return nil, err
	}
	for k := int64(0); ; k++ {
		if len(data) < 2 {
			return nil, fmt.Errorf("entry bundle too short")
		}
		l := int(data[0])<<8 | int(data[1])
		if len(data) < 2+l {
			return nil, fmt.Errorf("entry bundle truncated")
		}
		if k == i%256 {
			return data[2 : 2+l], nil
		}
		data = data[2+l:]
	}
}

func run(args []string) (string, error) {
	if len(args) < 3 {
		return "", fmt.Errorf("usage: go-verifier <log dir> <verifier key> checkpoint|inclusion <index>|consistency <old checkpoint>")
	}
	d := dirTiles{dir: args[0]}
	v, err := note.NewVerifier(strings.TrimSpace(args[1]))
	if err != nil {
		return "", err
	}
	cp, err := os.ReadFile(filepath.Join(d.dir, "checkpoint"))
	if err != nil {
		return "", err
	}
	tree, err := openCheckpoint(cp, v)
	if err != nil {
		return "", err
	}
	hr := tlog.TileHashReader(tree, d)
	switch {
	case args[2] == "checkpoint" && len(args) == 3:
		return fmt.Sprintf("ok checkpoint size %d", tree.N), nil
	case args[2] == "inclusion" && len(args) == 4:
		i, err := strconv.ParseInt(args[3], 10, 64)
		if err != nil || i < 0 || i >= tree.N {
			return "", fmt.Errorf("index %q is not in the tree of size %d", args[3], tree.N)
		}
		e, err := d.entry(tree.N, i)
		if err != nil {
			return "", err
		}
		p, err := tlog.ProveRecord(tree.N, i, hr)
		if err != nil {
			return "", err
		}
		if err := tlog.CheckRecord(p, tree.N, tree.Hash, i, tlog.RecordHash(e)); err != nil {
			return "", err
		}
		// TileHashReader checked the tiles against the tree; the entry must also be the leaf the tiles hold.
		leaf, err := tlog.TileHashReader(tree, d).ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
		if err != nil {
			return "", err
		}
		if leaf[0] != tlog.RecordHash(e) {
			return "", fmt.Errorf("entry %d does not match its leaf hash", i)
		}
		return fmt.Sprintf("ok entry %d included in tree size %d", i, tree.N), nil
	case args[2] == "consistency" && len(args) == 4:
		old, err := os.ReadFile(args[3])
		if err != nil {
			return "", err
		}
		oldTree, err := openCheckpoint(old, v)
		if err != nil {
			return "", err
		}
		if oldTree.N > tree.N {
			return "", fmt.Errorf("the log shrank from %d to %d", oldTree.N, tree.N)
		}
		if oldTree.N == 0 {
			// tlog.ProveTree needs a non-empty old tree; every tree extends the empty one (RFC 9162 §2.1.4).
			if oldTree.Hash != tlog.Hash(sha256.Sum256(nil)) {
				return "", fmt.Errorf("the empty tree has a wrong root hash")
			}
			return fmt.Sprintf("ok tree size %d extends tree size 0", tree.N), nil
		}
		p, err := tlog.ProveTree(tree.N, oldTree.N, hr)
		if err != nil {
			return "", err
		}
		if err := tlog.CheckTree(p, tree.N, tree.Hash, oldTree.N, oldTree.Hash); err != nil {
			return "", err
		}
		return fmt.Sprintf("ok tree size %d extends tree size %d", tree.N, oldTree.N), nil
	}
	return "", fmt.Errorf("unknown command %q", strings.Join(args[2:], " "))
}

func main() {
	out, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-verifier:", err)
		os.Exit(1)
	}
	fmt.Println(out)
}
