package s3api

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"strings"

	"github.com/wharfml/wharf/internal/blob"
)

// checksumAlgorithms are the supported x-amz-checksum-* algorithms, in the
// order responses list them.
var checksumAlgorithms = []string{blob.CRC32, blob.CRC32C, blob.CRC64NVME, blob.SHA1, blob.SHA256}

// crc64NVMETable is CRC-64/NVME (reflected polynomial, as crc64.MakeTable wants).
var crc64NVMETable = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// newChecksumHash returns a hash for an algorithm name (upper case), or nil.
func newChecksumHash(algo string) hash.Hash {
	switch algo {
	case blob.CRC32:
		return crc32.NewIEEE()
	case blob.CRC32C:
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case blob.CRC64NVME:
		return crc64.New(crc64NVMETable)
	case blob.SHA1:
		return sha1.New()
	case blob.SHA256:
		return sha256.New()
	}
	return nil
}

// checksumSize is the raw digest length of an algorithm.
func checksumSize(algo string) int {
	if h := newChecksumHash(algo); h != nil {
		return h.Size()
	}
	return 0
}

// normalizeAlgorithm upper-cases an algorithm name and reports whether it is supported.
func normalizeAlgorithm(s string) (string, bool) {
	a := strings.ToUpper(strings.TrimSpace(s))
	return a, newChecksumHash(a) != nil
}

// checksumHeader is the x-amz-checksum-* header name of an algorithm.
func checksumHeader(algo string) string {
	return "X-Amz-Checksum-" + strings.ToLower(algo)
}

// contentMD5 decodes a Content-MD5 header; malformed → InvalidDigest.
func contentMD5(h http.Header) ([]byte, error) {
	v := h.Get("Content-Md5")
	if v == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) != md5.Size {
		return nil, newError("InvalidDigest", http.StatusBadRequest, "The Content-MD5 you specified was invalid.")
	}
	return b, nil
}

// requestChecksums collects the checksums a write must verify or compute:
// x-amz-checksum-<algo> header values (verified), and algorithms named by
// x-amz-sdk-checksum-algorithm, x-amz-trailer or the request's declared
// trailers (the value comes in the trailer, verified by the auth layer), or
// extra, which map to "" (computed and stored by the blob store).
func requestChecksums(h, trailer http.Header, extra string) (map[string]string, error) {
	sums := map[string]string{}
	for _, algo := range checksumAlgorithms {
		v := h.Get(checksumHeader(algo))
		if v == "" {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(raw) != checksumSize(algo) {
			return nil, errInvalidRequest("Value for x-amz-checksum-%s header is invalid.", strings.ToLower(algo))
		}
		sums[algo] = v
	}
	if len(sums) > 1 {
		return nil, errInvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
	}
	want := func(algo string) {
		if _, ok := sums[algo]; !ok {
			sums[algo] = ""
		}
	}
	if v := h.Get("X-Amz-Sdk-Checksum-Algorithm"); v != "" {
		algo, ok := normalizeAlgorithm(v)
		if !ok {
			return nil, errInvalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
		}
		want(algo)
	}
	names := h.Values("X-Amz-Trailer")
	for name := range trailer {
		names = append(names, name)
	}
	for _, tv := range names {
		for _, name := range strings.Split(tv, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if a, ok := strings.CutPrefix(name, "x-amz-checksum-"); ok {
				if algo, ok := normalizeAlgorithm(a); ok {
					want(algo)
				}
			}
		}
	}
	if extra != "" {
		want(extra)
	}
	if len(sums) == 0 {
		return nil, nil
	}
	return sums, nil
}

// verifyBodyChecksums checks a buffered request body (an XML document)
// against Content-MD5 and any x-amz-checksum-* header.
func verifyBodyChecksums(h http.Header, body []byte) error {
	md, err := contentMD5(h)
	if err != nil {
		return err
	}
	if md != nil {
		sum := md5.Sum(body)
		if !bytes.Equal(md, sum[:]) {
			return errBadDigest()
		}
	}
	sums, err := requestChecksums(h, nil, "")
	if err != nil {
		return err
	}
	for algo, want := range sums {
		if want == "" {
			continue
		}
		hs := newChecksumHash(algo)
		hs.Write(body)
		if base64.StdEncoding.EncodeToString(hs.Sum(nil)) != want {
			return errBadDigest()
		}
	}
	return nil
}

// setChecksumHeaders adds x-amz-checksum-* and x-amz-checksum-type headers
// for stored checksums.
func setChecksumHeaders(h http.Header, sums map[string]string) {
	typ := ""
	for _, algo := range checksumAlgorithms {
		v, ok := sums[algo]
		if !ok || v == "" {
			continue
		}
		h.Set(checksumHeader(algo), v)
		typ = checksumType(v)
	}
	if typ != "" {
		h.Set("X-Amz-Checksum-Type", typ)
	}
}

// checksumType is COMPOSITE for a checksum of part checksums ("…-N"), else FULL_OBJECT.
func checksumType(v string) string {
	if strings.Contains(v, "-") {
		return "COMPOSITE"
	}
	return "FULL_OBJECT"
}

// checksumXML fills the Checksum* elements from stored checksums.
func checksumXML(sums map[string]string) checksumFields {
	var f checksumFields
	for algo, v := range sums {
		if v == "" {
			continue
		}
		switch algo {
		case blob.CRC32:
			f.ChecksumCRC32 = v
		case blob.CRC32C:
			f.ChecksumCRC32C = v
		case blob.CRC64NVME:
			f.ChecksumCRC64NVME = v
		case blob.SHA1:
			f.ChecksumSHA1 = v
		case blob.SHA256:
			f.ChecksumSHA256 = v
		default:
			continue
		}
		f.ChecksumType = checksumType(v)
	}
	return f
}

// firstChecksumAlgorithm names one algorithm with a stored checksum, for listings.
func firstChecksumAlgorithm(sums map[string]string) string {
	for _, algo := range checksumAlgorithms {
		if sums[algo] != "" {
			return algo
		}
	}
	return ""
}
