// Package blob defines Wharf's object storage: a flat, bucketed key/value store
// of immutable objects. Every backing (the local filesystem now, S3 later)
// implements Store and passes the shared conformance suite in blob/blobtest.
//
// Buckets here are plain namespaces: they need no creation and own nothing.
// Who owns a bucket, and whether it exists for S3 clients, is the metadata
// store's business. Wharf itself uses namespaces whose names are not valid S3
// bucket names (for example "_registry") so they never collide with users'.
package blob

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors returned by every Store implementation. Callers test them with errors.Is.
var (
	// ErrNotFound: the object, upload or part does not exist.
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidKey: the key is empty, longer than MaxKeyLength, not valid UTF-8,
	// or contains NUL.
	ErrInvalidKey = errors.New("blob: invalid key")
	// ErrPrecondition: a conditional write found a different current state.
	ErrPrecondition = errors.New("blob: precondition failed")
	// ErrBadDigest: the data did not match an expected checksum given in PutOptions.
	ErrBadDigest = errors.New("blob: checksum mismatch")
	// ErrInvalidPart: CompleteUpload named a part that was not uploaded or whose ETag differs.
	ErrInvalidPart = errors.New("blob: invalid part")
	// ErrInvalidPartOrder: CompleteUpload parts are not in ascending order.
	ErrInvalidPartOrder = errors.New("blob: invalid part order")
	// ErrEntityTooSmall: a part other than the last is smaller than MinPartSize.
	ErrEntityTooSmall = errors.New("blob: part too small")
	// ErrInvalidArgument: a malformed request that no data could satisfy: an
	// unknown checksum algorithm, a checksum or ContentMD5 value of the wrong
	// length or encoding, a part number outside 1..10000, an empty bucket name.
	ErrInvalidArgument = errors.New("blob: invalid argument")
)

// MaxKeyLength is the longest key in bytes, as in S3.
const MaxKeyLength = 1024

// MinPartSize is the smallest size of every multipart part but the last, as in S3.
const MinPartSize = 5 << 20

// Checksum algorithms, named as in S3's x-amz-checksum-* headers (upper case).
const (
	CRC32     = "CRC32"
	CRC32C    = "CRC32C"
	CRC64NVME = "CRC64NVME"
	SHA1      = "SHA1"
	SHA256    = "SHA256"
)

// Attrs are the client-supplied attributes stored with an object.
type Attrs struct {
	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	CacheControl       string
	Expires            string
	// Metadata is user metadata (x-amz-meta-*) with lower-case names, no prefix.
	Metadata map[string]string
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Bucket string
	Key    string
	Size   int64
	// ETag is the unquoted hex MD5 of the data, or for a multipart object the
	// hex MD5 of the concatenated binary part MD5s followed by "-<part count>".
	// Objects written other than through Store's methods may have an ETag
	// of another form, documented by the method that wrote them (the
	// filesystem store's PutFile); it is never 32 hex digits.
	ETag    string
	ModTime time.Time
	Attrs
	// Checksums maps an algorithm (CRC32, ...) to its base64 value. For
	// multipart objects the value is the checksum of checksums with a
	// "-<part count>" suffix, as S3 reports it.
	Checksums map[string]string
	// PartCount is the number of parts for a multipart object, else 0.
	PartCount int
}

// PutOptions control a write.
type PutOptions struct {
	Attrs
	// Size is the exact data length if known, or -1. When known, a reader that
	// ends early or runs long fails the write with io.ErrUnexpectedEOF.
	Size int64
	// ContentMD5 is the expected raw MD5 (16 bytes) if the client sent one.
	ContentMD5 []byte
	// Checksums maps an algorithm to an expected base64 value to verify; an
	// empty value asks the store to compute and keep that checksum.
	Checksums map[string]string
	// IfMatch, when set, requires the current object's ETag to equal it;
	// IfNoneMatch "*" requires that no object exists. Else ErrPrecondition.
	IfMatch     string
	IfNoneMatch string
}

// Range selects bytes [Start, Start+Length) of an object. Length -1 means to the end.
// A negative Start selects the last -Start bytes (an HTTP suffix range,
// "bytes=-N"); Length is then ignored.
type Range struct {
	Start  int64
	Length int64
}

// ListOptions select keys in ascending byte order.
type ListOptions struct {
	Prefix string
	// Delimiter, if set, rolls keys that contain it after Prefix up into
	// CommonPrefixes (each reported once).
	Delimiter string
	// StartAfter: only keys (and common prefixes) strictly greater than this.
	StartAfter string
	// MaxKeys bounds Objects+CommonPrefixes together; <=0 means 1000.
	MaxKeys int
}

// ListResult is one page of a listing.
type ListResult struct {
	Objects        []ObjectInfo
	CommonPrefixes []string
	// IsTruncated reports whether more entries follow; NextStartAfter is then
	// the last key or common prefix returned, to pass as StartAfter.
	IsTruncated    bool
	NextStartAfter string
}

// Upload describes an in-progress multipart upload.
type Upload struct {
	ID        string
	Bucket    string
	Key       string
	Initiated time.Time
	Attrs
	// ChecksumAlgorithm is the algorithm parts must carry, if any.
	ChecksumAlgorithm string
}

// PartInfo describes an uploaded part.
type PartInfo struct {
	Number    int
	Size      int64
	ETag      string // unquoted hex MD5
	ModTime   time.Time
	Checksums map[string]string
}

// CompletedPart names a part in CompleteUpload.
type CompletedPart struct {
	Number int
	ETag   string // quoted or unquoted
}

// Store is an object store. Implementations are safe for concurrent use.
// Writes are atomic: a reader sees either the whole old object or the whole
// new one, never a partial write, even if the writer is cancelled or crashes.
type Store interface {
	// Put stores r as bucket/key, replacing any existing object.
	Put(ctx context.Context, bucket, key string, r io.Reader, opts PutOptions) (ObjectInfo, error)
	// Get opens an object for reading, or returns ErrNotFound; rng nil reads
	// it whole. A range running past the end is clipped; rejecting a range
	// that starts past the end (HTTP 416) is the caller's job.
	Get(ctx context.Context, bucket, key string, rng *Range) (io.ReadCloser, ObjectInfo, error)
	// Head returns an object's info, or ErrNotFound.
	Head(ctx context.Context, bucket, key string) (ObjectInfo, error)
	// Delete removes an object; deleting a missing object is not an error.
	Delete(ctx context.Context, bucket, key string) error
	// List returns one page of objects in bucket.
	List(ctx context.Context, bucket string, opts ListOptions) (ListResult, error)

	// CreateUpload starts a multipart upload and returns its description.
	CreateUpload(ctx context.Context, bucket, key string, attrs Attrs, checksumAlgorithm string) (Upload, error)
	// GetUpload returns an upload, or ErrNotFound.
	GetUpload(ctx context.Context, bucket, key, uploadID string) (Upload, error)
	// PutPart stores part number n (1..10000) of an upload, replacing any
	// earlier part n. opts.Size, ContentMD5 and Checksums are honoured as in Put.
	PutPart(ctx context.Context, bucket, key, uploadID string, n int, r io.Reader, opts PutOptions) (PartInfo, error)
	// ListParts returns the parts with numbers > after, in order, at most max (<=0: 1000),
	// and whether more follow.
	ListParts(ctx context.Context, bucket, key, uploadID string, after, max int) ([]PartInfo, bool, error)
	// ListUploads returns in-progress uploads in bucket whose key has prefix,
	// ordered by key then initiation time.
	ListUploads(ctx context.Context, bucket, prefix string) ([]Upload, error)
	// CompleteUpload assembles the named parts into the object atomically and
	// removes the upload.
	CompleteUpload(ctx context.Context, bucket, key, uploadID string, parts []CompletedPart) (ObjectInfo, error)
	// AbortUpload discards an upload and its parts.
	AbortUpload(ctx context.Context, bucket, key, uploadID string) error

	// Close releases resources held by the store.
	Close() error
}
