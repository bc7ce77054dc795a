package contract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/wharfml/wharf/internal/blob"
)

// Channel data types, distributions, compressions, wrappers and input modes
// (api.md §2). Empty fields of a Channel mean the first value of each list.
const (
	S3Prefix     = "S3Prefix"
	ManifestFile = "ManifestFile"

	FullyReplicated = "FullyReplicated"
	ShardedByS3Key  = "ShardedByS3Key"

	CompressionNone = "None"
	CompressionGzip = "Gzip"

	RecordWrapperNone = "None"
	RecordIO          = "RecordIO"

	ModeFile     = "File"
	ModePipe     = "Pipe"
	ModeFastFile = "FastFile"
)

// MaxManifestSize bounds the manifest object read by ResolveChannel.
const MaxManifestSize = 64 << 20

// ObjectSource reads objects the job owner may read. The controller
// implements it over blob.Store with ownership checks; errors for missing
// buckets or objects wrap blob.ErrNotFound, refusals wrap ErrAccessDenied.
type ObjectSource interface {
	// List calls fn for every object whose key starts with prefix, in
	// ascending key order, across all pages; an error from fn stops the
	// listing and is returned.
	List(ctx context.Context, bucket, prefix string, fn func(blob.ObjectInfo) error) error
	// Head describes one object.
	Head(ctx context.Context, bucket, key string) (blob.ObjectInfo, error)
	// Open reads one object whole.
	Open(ctx context.Context, bucket, key string) (io.ReadCloser, blob.ObjectInfo, error)
}

// ObjectSink writes objects the job owner may write. size is the exact
// length, or -1 when unknown.
type ObjectSink interface {
	Put(ctx context.Context, bucket, key string, r io.Reader, size int64) error
}

// Channel is one input channel of a training job (api.md §2). InputMode is the
// channel's effective mode (see EffectiveInputMode).
type Channel struct {
	Name              string
	S3DataType        string // S3Prefix | ManifestFile
	S3Uri             string
	Distribution      string // FullyReplicated | ShardedByS3Key
	ContentType       string // optional
	CompressionType   string // None | Gzip (Gzip needs Pipe)
	RecordWrapperType string // None | RecordIO (RecordIO needs Pipe)
	InputMode         string // File | Pipe | FastFile
	ShuffleSeed       *int64 // ShuffleConfig.Seed; nil = key order
}

// EffectiveInputMode is the channel's InputMode if set, else the job's
// TrainingInputMode.
func EffectiveInputMode(channelMode, jobMode string) string {
	if channelMode != "" {
		return channelMode
	}
	return jobMode
}

var channelNameRE = regexp.MustCompile(`^[A-Za-z0-9.\-_]{1,64}$`)

// normalize fills defaults and checks the channel's members.
func (c Channel) normalize() (Channel, error) {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.S3DataType, S3Prefix)
	def(&c.Distribution, FullyReplicated)
	def(&c.CompressionType, CompressionNone)
	def(&c.RecordWrapperType, RecordWrapperNone)
	def(&c.InputMode, ModeFile)
	// "." and ".." match the API pattern but would name the data directory itself or its parent.
	if !channelNameRE.MatchString(c.Name) || c.Name == "." || c.Name == ".." {
		return c, fmt.Errorf("channel %q: invalid channel name", c.Name)
	}
	bad := func(member, v string) error { return fmt.Errorf("channel %q: unsupported %s %q", c.Name, member, v) }
	switch {
	case c.S3DataType != S3Prefix && c.S3DataType != ManifestFile:
		return c, bad("S3DataType", c.S3DataType)
	case c.Distribution != FullyReplicated && c.Distribution != ShardedByS3Key:
		return c, bad("S3DataDistributionType", c.Distribution)
	case c.CompressionType != CompressionNone && c.CompressionType != CompressionGzip:
		return c, bad("CompressionType", c.CompressionType)
	case c.RecordWrapperType != RecordWrapperNone && c.RecordWrapperType != RecordIO:
		return c, bad("RecordWrapperType", c.RecordWrapperType)
	case c.InputMode != ModeFile && c.InputMode != ModePipe && c.InputMode != ModeFastFile:
		return c, bad("InputMode", c.InputMode)
	case c.InputMode != ModePipe && c.CompressionType != CompressionNone:
		return c, fmt.Errorf("channel %q: CompressionType %s needs Pipe mode", c.Name, c.CompressionType)
	case c.InputMode != ModePipe && c.RecordWrapperType != RecordWrapperNone:
		return c, fmt.Errorf("channel %q: RecordWrapperType %s needs Pipe mode", c.Name, c.RecordWrapperType)
	case c.InputMode == ModeFastFile && c.S3DataType != S3Prefix:
		return c, fmt.Errorf("channel %q: FastFile mode needs S3DataType S3Prefix", c.Name)
	}
	if _, _, err := ParseS3URI(c.S3Uri); err != nil {
		return c, fmt.Errorf("channel %q: %w", c.Name, err)
	}
	return c, nil
}

// ChannelObject is one object of a channel and the path, relative to the
// channel directory, it is staged at.
type ChannelObject struct {
	Bucket, Key, RelPath string
	Size                 int64
}

// RelativePath applies the relative path rule of §2.4 for S3Prefix channels:
// key minus the directory part of uriKey (everything up to and including its
// last "/"). Unsafe results (empty, absolute, "." or ".." components, empty
// components, names over 255 bytes) are a *ClientError.
func RelativePath(uriKey, key string) (string, error) {
	dir := uriKey[:strings.LastIndex(uriKey, "/")+1]
	rel, ok := strings.CutPrefix(key, dir)
	if !ok {
		return "", clientErrorf("key %q is not under %q", key, dir)
	}
	if err := checkRelPath(rel); err != nil {
		return "", &ClientError{Msg: fmt.Sprintf("unsafe object key %q", key), Err: err}
	}
	return rel, nil
}

// checkRelPath accepts slash-separated relative paths whose components are
// all real names.
func checkRelPath(rel string) error {
	switch {
	case rel == "":
		return errors.New("empty relative path")
	case strings.HasPrefix(rel, "/"):
		return errors.New("absolute path")
	case strings.ContainsRune(rel, 0):
		return errors.New("NUL byte in path")
	}
	for c := range strings.SplitSeq(rel, "/") {
		switch {
		case c == "":
			return errors.New("empty path component")
		case c == "." || c == "..":
			return fmt.Errorf("%q path component", c)
		case len(c) > 255:
			return errors.New("path component longer than 255 bytes")
		}
	}
	return nil
}

// sourceError turns a not-found or access-denied error from an ObjectSource
// into a ClientError about what.
func sourceError(err error, what string) error {
	switch {
	case errors.Is(err, blob.ErrNotFound):
		return clientErrorf("%s not found", what)
	case errors.Is(err, ErrAccessDenied):
		return clientErrorf("access denied to %s", what)
	case errors.Is(err, blob.ErrInvalidKey):
		return clientErrorf("invalid object key in %s", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ResolveChannel lists a channel's objects with their relative paths (§2.4)
// and returns the ones host hostIndex (1-based, of hostCount) receives.
// Objects are in key order, without duplicates and folder markers. A channel
// with no objects at all, an unreadable bucket or object, a malformed
// manifest, an unsafe key or (File/FastFile) a key that is both a file and a
// directory is a *ClientError.
func ResolveChannel(ctx context.Context, src ObjectSource, ch Channel, hostIndex, hostCount int) ([]ChannelObject, error) {
	ch, err := ch.normalize()
	if err != nil {
		return nil, err
	}
	if hostCount < 1 || hostIndex < 1 || hostIndex > hostCount {
		return nil, fmt.Errorf("channel %q: host %d of %d out of range", ch.Name, hostIndex, hostCount)
	}
	var objs []ChannelObject
	if ch.S3DataType == ManifestFile {
		objs, err = resolveManifest(ctx, src, ch.S3Uri)
	} else {
		objs, err = resolvePrefix(ctx, src, ch.S3Uri)
	}
	if err != nil {
		return nil, withContext(err, "channel %q", ch.Name)
	}
	if len(objs) == 0 {
		return nil, clientErrorf("No S3 objects found under S3 URL %q given in input data source of channel %q", ch.S3Uri, ch.Name)
	}
	if ch.InputMode != ModePipe {
		if err := checkPathConflicts(objs); err != nil {
			return nil, withContext(err, "channel %q", ch.Name)
		}
	}
	if ch.Distribution == ShardedByS3Key && hostCount > 1 {
		shard := make([]ChannelObject, 0, len(objs)/hostCount+1)
		for i := hostIndex - 1; i < len(objs); i += hostCount {
			shard = append(shard, objs[i])
		}
		objs = shard
	}
	return objs, nil
}

func resolvePrefix(ctx context.Context, src ObjectSource, uri string) ([]ChannelObject, error) {
	bucket, prefix, err := ParseS3URI(uri)
	if err != nil {
		return nil, err
	}
	return listRelative(ctx, src, bucket, prefix, uri, func(key string) (string, error) {
		return RelativePath(prefix, key)
	})
}

// listRelative lists bucket/prefix, skipping folder markers, naming each
// object with rel.
func listRelative(ctx context.Context, src ObjectSource, bucket, prefix, uri string, rel func(string) (string, error)) ([]ChannelObject, error) {
	var objs []ChannelObject
	err := src.List(ctx, bucket, prefix, func(o blob.ObjectInfo) error {
		if strings.HasSuffix(o.Key, "/") {
			return nil
		}
		r, err := rel(o.Key)
		if err != nil {
			return err
		}
		objs = append(objs, ChannelObject{Bucket: bucket, Key: o.Key, RelPath: r, Size: o.Size})
		return nil
	})
	if err != nil {
		var ce *ClientError
		if errors.As(err, &ce) {
			return nil, ce
		}
		return nil, sourceError(err, "listing of "+uri)
	}
	return objs, nil
}

// resolveManifest reads a manifest file: a JSON array whose first element is
// {"prefix": "s3://bucket/prefix"} and whose other elements are paths
// relative to that prefix.
func resolveManifest(ctx context.Context, src ObjectSource, uri string) ([]ChannelObject, error) {
	bucket, key, err := ParseS3URI(uri)
	if err != nil {
		return nil, err
	}
	rc, _, err := src.Open(ctx, bucket, key)
	if err != nil {
		return nil, sourceError(err, "manifest "+uri)
	}
	data, err := io.ReadAll(io.LimitReader(rc, MaxManifestSize+1))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", uri, err)
	}
	if len(data) > MaxManifestSize {
		return nil, clientErrorf("manifest %s is larger than %d bytes", uri, MaxManifestSize)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &ClientError{Msg: "invalid manifest " + uri + ": not a JSON array", Err: err}
	}
	var head struct {
		Prefix *string `json:"prefix"`
	}
	if len(raw) == 0 || json.Unmarshal(raw[0], &head) != nil || head.Prefix == nil {
		return nil, clientErrorf(`invalid manifest %s: the first element must be {"prefix": "s3://..."}`, uri)
	}
	pbucket, pkey, err := ParseS3URI(*head.Prefix)
	if err != nil {
		return nil, &ClientError{Msg: "invalid manifest " + uri, Err: err}
	}
	seen := make(map[string]bool, len(raw))
	objs := make([]ChannelObject, 0, len(raw)-1)
	for i, m := range raw[1:] {
		var rel string
		if err := json.Unmarshal(m, &rel); err != nil {
			return nil, clientErrorf("invalid manifest %s: element %d is not a string", uri, i+1)
		}
		if strings.HasSuffix(rel, "/") || seen[rel] {
			continue // folder marker or duplicate
		}
		seen[rel] = true
		if err := checkRelPath(rel); err != nil {
			return nil, &ClientError{Msg: fmt.Sprintf("manifest %s: unsafe path %q", uri, rel), Err: err}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		info, err := src.Head(ctx, pbucket, pkey+rel)
		if err != nil {
			return nil, sourceError(err, fmt.Sprintf("object %s listed in manifest %s", S3URI(pbucket, pkey+rel), uri))
		}
		objs = append(objs, ChannelObject{Bucket: pbucket, Key: pkey + rel, RelPath: rel, Size: info.Size})
	}
	slices.SortFunc(objs, func(a, b ChannelObject) int { return strings.Compare(a.Key, b.Key) })
	return objs, nil
}

// checkPathConflicts rejects a relative path that is also the parent
// directory of another one.
func checkPathConflicts(objs []ChannelObject) error {
	files := make(map[string]bool, len(objs))
	for _, o := range objs {
		files[o.RelPath] = true
	}
	for _, o := range objs {
		for i := range len(o.RelPath) {
			if o.RelPath[i] == '/' && files[o.RelPath[:i]] {
				return clientErrorf("object key %q needs %q to be a directory, but it is also an object", o.Key, o.RelPath[:i])
			}
		}
	}
	return nil
}

// StageFile copies objs into dir/<RelPath> (File mode), creating parent
// directories, never following or creating symlinks, and checking every size
// against the listing. New files and directories take dir's permission bits
// and owner (see PrepareHost). It returns the bytes copied. An object that
// vanished or changed size is a *ClientError; dir should start empty.
func StageFile(ctx context.Context, src ObjectSource, objs []ChannelObject, dir string) (int64, error) {
	w, err := newWriter(dir)
	if err != nil {
		return 0, fmt.Errorf("stage: %w", err)
	}
	defer w.Close()
	var total int64
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := stageOne(ctx, src, w, o)
		total += n
		if err != nil {
			return total, withContext(err, "stage %s", S3URI(o.Bucket, o.Key))
		}
	}
	return total, nil
}

func stageOne(ctx context.Context, src ObjectSource, w *writer, o ChannelObject) (int64, error) {
	if err := checkRelPath(o.RelPath); err != nil {
		return 0, &ClientError{Msg: fmt.Sprintf("unsafe path %q", o.RelPath), Err: err}
	}
	rc, info, err := src.Open(ctx, o.Bucket, o.Key)
	if err != nil {
		return 0, sourceError(err, "object")
	}
	defer rc.Close()
	if info.Size != o.Size {
		return 0, clientErrorf("object changed while staging (size %d, listed as %d)", info.Size, o.Size)
	}
	f, err := w.create(o.RelPath)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, io.LimitReader(ctxReader{ctx, rc}, o.Size+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != o.Size {
		err = clientErrorf("object changed while staging (read %d bytes, listed as %d)", n, o.Size)
	}
	if err != nil {
		w.root.Remove(o.RelPath)
		return n, err
	}
	return n, nil
}
