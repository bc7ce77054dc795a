package fs

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"sort"
	"strings"

	"github.com/wharfml/wharf/internal/blob"
)

// crc64NVMEPoly is the bit-reversed CRC-64/NVME polynomial as hash/crc64
// wants it; the same constant as aws-sdk-go-v2's service/internal/checksum.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

var (
	crc32cTable = crc32.MakeTable(crc32.Castagnoli)
	crc64Table  = crc64.MakeTable(crc64NVMEPoly)
)

// newHash returns a hash for a checksum algorithm (upper-case name).
func newHash(alg string) (hash.Hash, bool) {
	switch alg {
	case blob.CRC32:
		return crc32.NewIEEE(), true
	case blob.CRC32C:
		return crc32.New(crc32cTable), true
	case blob.CRC64NVME:
		return crc64.New(crc64Table), true
	case blob.SHA1:
		return sha1.New(), true
	case blob.SHA256:
		return sha256.New(), true
	}
	return nil, false
}

// hashSize returns the digest length of a known algorithm.
func hashSize(alg string) int {
	h, ok := newHash(alg)
	if !ok {
		return 0
	}
	return h.Size()
}

// wantSums is a parsed PutOptions.Checksums: algorithm → expected raw digest
// (nil: compute only).
type wantSums map[string][]byte

// parseChecksums validates requested checksums; extra names algorithms to
// compute in addition (the upload's algorithm for parts).
func parseChecksums(in map[string]string, extra string) (wantSums, error) {
	out := make(wantSums, len(in)+1)
	for alg, v := range in {
		name := strings.ToUpper(alg)
		size := hashSize(name)
		if size == 0 {
			return nil, fmt.Errorf("unknown checksum algorithm %q: %w", alg, blob.ErrInvalidArgument)
		}
		if v == "" {
			if _, ok := out[name]; !ok {
				out[name] = nil
			}
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(raw) != size {
			return nil, fmt.Errorf("malformed %s checksum %q: %w", name, v, blob.ErrInvalidArgument)
		}
		out[name] = raw
	}
	if extra != "" {
		if _, ok := out[extra]; !ok {
			out[extra] = nil
		}
	}
	return out, nil
}

// algorithms returns the algorithm names in a stable order.
func (w wantSums) algorithms() []string {
	algs := make([]string, 0, len(w))
	for a := range w {
		algs = append(algs, a)
	}
	sort.Strings(algs)
	return algs
}

// validAlgorithm reports whether alg is empty or a known algorithm.
func validAlgorithm(alg string) bool { return alg == "" || hashSize(alg) > 0 }

func encodeSums(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func decodeSums(s string) (map[string]string, error) {
	if s == "" || s == "{}" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode checksums: %w", err)
	}
	return m, nil
}

// storedAttrs is the JSON form of blob.Attrs in the index; its field names
// are part of the on-disk format.
type storedAttrs struct {
	ContentType        string            `json:"ct,omitempty"`
	ContentEncoding    string            `json:"ce,omitempty"`
	ContentDisposition string            `json:"cd,omitempty"`
	ContentLanguage    string            `json:"cl,omitempty"`
	CacheControl       string            `json:"cc,omitempty"`
	Expires            string            `json:"ex,omitempty"`
	Metadata           map[string]string `json:"md,omitempty"`
}

func encodeAttrs(a blob.Attrs) string {
	b, _ := json.Marshal(storedAttrs(a))
	return string(b)
}

func decodeAttrs(s string) (blob.Attrs, error) {
	if s == "{}" {
		return blob.Attrs{}, nil
	}
	var a storedAttrs
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return blob.Attrs{}, fmt.Errorf("decode attributes: %w", err)
	}
	return blob.Attrs(a), nil
}

// cleanETag strips surrounding quotes and lower-cases an ETag.
func cleanETag(e string) string {
	e = strings.TrimSpace(e)
	if len(e) >= 2 && e[0] == '"' && e[len(e)-1] == '"' {
		e = e[1 : len(e)-1]
	}
	return strings.ToLower(e)
}

// multipartETag returns hex(md5(concatenated part md5s)) + "-N".
func multipartETag(partETags []string) (string, error) {
	h := md5.New()
	for _, e := range partETags {
		raw, err := hex.DecodeString(e)
		if err != nil || len(raw) != md5.Size {
			return "", fmt.Errorf("part ETag %q is not an MD5", e)
		}
		h.Write(raw)
	}
	return fmt.Sprintf("%x-%d", h.Sum(nil), len(partETags)), nil
}

// compositeChecksum returns base64(alg(concatenated raw part checksums)) + "-N".
func compositeChecksum(alg string, partSums []string) (string, error) {
	h, ok := newHash(alg)
	if !ok {
		return "", fmt.Errorf("unknown checksum algorithm %q", alg)
	}
	for _, v := range partSums {
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(raw) != h.Size() {
			return "", fmt.Errorf("malformed part %s checksum %q", alg, v)
		}
		h.Write(raw)
	}
	return fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(h.Sum(nil)), len(partSums)), nil
}
