package contract

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
)

// MaxArchiveEntries bounds the entries ExtractTarGz accepts.
const MaxArchiveEntries = 1 << 20

// mergedEntry is one path of merged trees and the tree it comes from.
type mergedEntry struct {
	rel    string
	root   *os.Root
	info   fs.FileInfo
	target string // symlink target
}

// mergeTrees merges the trees under dirs, later trees overwriting equal
// paths. It keeps directories, regular files and symlinks that stay inside
// the tree (symlinkInside); other entries, and entries under a path a later
// tree turned into a non-directory, are returned as skipped. The result is
// sorted component by component (parents first). The caller closes roots.
func mergeTrees(ctx context.Context, dirs []string) (ents []mergedEntry, skipped []string, roots []*os.Root, err error) {
	idx := map[string]mergedEntry{}
	for _, dir := range dirs {
		root, err := os.OpenRoot(dir)
		if err != nil {
			closeRoots(roots)
			return nil, nil, nil, err
		}
		roots = append(roots, root)
		err = walkTree(ctx, root, func(e fileEntry) error {
			m := mergedEntry{rel: e.rel, root: root, info: e.info}
			if e.info.Mode()&fs.ModeSymlink != 0 {
				t, err := root.Readlink(e.rel)
				if err != nil {
					return err
				}
				m.target = t
			}
			idx[e.rel] = m
			return nil
		})
		if err != nil {
			closeRoots(roots)
			return nil, nil, nil, fmt.Errorf("%s: %w", dir, err)
		}
	}
	keys := make([]string, 0, len(idx))
	for k := range idx {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, comparePaths)
	for _, k := range keys {
		m := idx[k]
		ok := true
		for i := range len(k) {
			if k[i] == '/' && !idx[k[:i]].info.IsDir() {
				ok = false // an ancestor was overwritten by a non-directory
				break
			}
		}
		mode := m.info.Mode()
		switch {
		case !ok:
		case mode.IsDir(), mode.IsRegular():
		case mode&fs.ModeSymlink != 0:
			ok = symlinkInside(k, m.target)
		default:
			ok = false
		}
		if ok {
			ents = append(ents, m)
		} else {
			skipped = append(skipped, k)
		}
	}
	return ents, skipped, roots, nil
}

func closeRoots(roots []*os.Root) {
	for _, r := range roots {
		r.Close()
	}
}

// comparePaths orders slash-separated paths component by component.
func comparePaths(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return -1
		}
		if cb == '/' {
			return 1
		}
		return int(ca) - int(cb)
	}
	return len(a) - len(b)
}

// symlinkInside reports whether a symlink at link (relative to a tree root)
// pointing to target cannot resolve outside the tree, whatever other
// symlinks the tree holds: the target must be relative, its ".." components
// must all come first and must not climb above the root.
func symlinkInside(link, target string) bool {
	if target == "" || strings.HasPrefix(target, "/") || strings.ContainsRune(target, 0) {
		return false
	}
	depth := strings.Count(link, "/")
	up, named := 0, false
	for c := range strings.SplitSeq(target, "/") {
		switch c {
		case "", ".":
		case "..":
			if named {
				return false
			}
			if up++; up > depth {
				return false
			}
		default:
			named = true
		}
	}
	return true
}

// PackTarGz writes a gzip-compressed tar of the merged trees under dirs
// (§2.6): later trees overwrite equal paths; entry names are relative
// ("a/b", directories "a/"); regular files, directories and symlinks whose
// target stays inside the tree are kept, everything else is dropped and its
// path returned in skipped. Symlinks are never followed, the order is
// deterministic and file data is streamed.
func PackTarGz(ctx context.Context, w io.Writer, dirs ...string) (skipped []string, err error) {
	ents, skipped, roots, err := mergeTrees(ctx, dirs)
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	defer closeRoots(roots)
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return skipped, err
		}
		if err := packEntry(ctx, tw, e); err != nil {
			return skipped, fmt.Errorf("pack %s: %w", e.rel, err)
		}
	}
	if err := tw.Close(); err != nil {
		return skipped, fmt.Errorf("pack: %w", err)
	}
	if err := zw.Close(); err != nil {
		return skipped, fmt.Errorf("pack: %w", err)
	}
	return skipped, nil
}

func packEntry(ctx context.Context, tw *tar.Writer, e mergedEntry) error {
	hdr := &tar.Header{
		Name:    e.rel,
		Mode:    int64(e.info.Mode().Perm()),
		ModTime: e.info.ModTime().Truncate(time.Second),
	}
	mode := e.info.Mode()
	switch {
	case mode.IsDir():
		hdr.Typeflag, hdr.Name = tar.TypeDir, e.rel+"/"
		return tw.WriteHeader(hdr)
	case mode&fs.ModeSymlink != 0:
		hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, e.target, 0o777
		return tw.WriteHeader(hdr)
	}
	f, st, err := openRegular(e.root, e.rel, e.info)
	if err != nil {
		return err
	}
	defer f.Close()
	hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(tw, ctxReader{ctx, f})
	if err == nil && n != st.Size() {
		err = fmt.Errorf("file changed while archiving")
	}
	return err
}

// UploadDirFiles uploads the regular files of the merged trees under dirs
// (as PackTarGz merges them) to bucket under prefix + relative path: the
// OutputDataConfig CompressionType NONE case of §2.6. Symlinks, empty
// directories and special files cannot be represented and are skipped.
func UploadDirFiles(ctx context.Context, sink ObjectSink, bucket, prefix string, dirs ...string) (skipped []string, err error) {
	ents, skipped, roots, err := mergeTrees(ctx, dirs)
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	defer closeRoots(roots)
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return skipped, err
		}
		switch {
		case e.info.IsDir():
			continue
		case !e.info.Mode().IsRegular():
			skipped = append(skipped, e.rel)
			continue
		}
		if err := uploadFile(ctx, sink, bucket, prefix+e.rel, e.root, e.rel, e.info); err != nil {
			return skipped, fmt.Errorf("upload %s: %w", e.rel, err)
		}
	}
	slices.SortFunc(skipped, comparePaths)
	return skipped, nil
}

// uploadFile uploads one regular file, failing if it changes meanwhile.
func uploadFile(ctx context.Context, sink ObjectSink, bucket, key string, root *os.Root, rel string, want fs.FileInfo) error {
	f, st, err := openRegular(root, rel, want)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := sink.Put(ctx, bucket, key, io.LimitReader(f, st.Size()), st.Size()); err != nil {
		return err
	}
	if now, err := f.Stat(); err != nil || now.Size() != st.Size() || !now.ModTime().Equal(st.ModTime()) {
		return errors.New("file changed while uploading")
	}
	return nil
}

// ExtractTarGz extracts a tar archive, gzip-compressed or not, into dst
// (§3.1), which must be absent or empty. It rejects absolute names, ".."
// components, symlinks whose target could leave dst (see symlinkInside),
// hard links to anything but a regular file extracted earlier, entries
// inside or over a symlink, device and FIFO entries, more than
// MaxArchiveEntries entries and more than maxBytes of file data (and a
// decompressed stream much larger than that). Files get mode 0644 or 0755,
// directories 0755; owners are not restored. Rejections are a
// *ClientError; on error dst may hold a partial tree the caller removes.
func ExtractTarGz(ctx context.Context, r io.Reader, dst string, maxBytes int64) error {
	if maxBytes <= 0 {
		return errors.New("extract: maxBytes must be positive")
	}
	if err := os.Mkdir(dst, 0o755); err == nil {
		err = os.Chmod(dst, 0o755)
		if err != nil {
			return fmt.Errorf("extract: %w", err)
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("extract: %w", err)
	}
	if ents, err := os.ReadDir(dst); err != nil || len(ents) > 0 {
		if err == nil {
			err = errors.New("destination is not empty")
		}
		return fmt.Errorf("extract: %w", err)
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	defer root.Close()
	x := &extractor{root: root, kinds: map[string]byte{".": tar.TypeDir}, left: maxBytes}

	br := bufio.NewReader(ctxReader{ctx, r})
	var stream io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return &ClientError{Msg: "invalid model archive", Err: err}
		}
		defer zr.Close()
		stream = zr
	}
	// Headers and padding are bounded too: a gzip bomb of headers stops here.
	x.stream = &limitedStream{r: stream, limit: func() int64 { return maxBytes + int64(x.entries+1)*4096 + 1<<20 }}
	tr := tar.NewReader(x.stream)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return x.readError(err)
		}
		if x.entries++; x.entries > MaxArchiveEntries {
			return clientErrorf("model archive has more than %d entries", MaxArchiveEntries)
		}
		if err := x.entry(hdr, tr); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ce *ClientError
			if errors.As(err, &ce) {
				return ce
			}
			return fmt.Errorf("extract %q: %w", hdr.Name, err)
		}
	}
}

var errStreamTooLarge = errors.New("archive stream too large")

// limitedStream fails once more than limit() bytes were read.
type limitedStream struct {
	r     io.Reader
	n     int64
	limit func() int64
}

func (l *limitedStream) Read(p []byte) (int, error) {
	if l.n > l.limit() {
		return 0, errStreamTooLarge
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

type extractor struct {
	root    *os.Root
	kinds   map[string]byte // extracted paths → tar.TypeDir, TypeReg or TypeSymlink
	left    int64           // file bytes still allowed
	entries int
	stream  *limitedStream
}

func (x *extractor) readError(err error) error {
	if errors.Is(err, errStreamTooLarge) {
		return clientErrorf("model archive exceeds the size limit")
	}
	return &ClientError{Msg: "invalid model archive", Err: err}
}

// cleanArchivePath turns an entry name into a clean relative path ("" for
// the root itself), rejecting absolute names and ".." components.
func cleanArchivePath(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", errors.New("absolute path")
	}
	if strings.ContainsRune(name, 0) {
		return "", errors.New("NUL byte in path")
	}
	var parts []string
	for c := range strings.SplitSeq(name, "/") {
		switch c {
		case "", ".":
		case "..":
			return "", errors.New(`".." component`)
		default:
			parts = append(parts, c)
		}
	}
	return strings.Join(parts, "/"), nil
}

func (x *extractor) entry(hdr *tar.Header, tr *tar.Reader) error {
	reject := func(format string, args ...any) error {
		return clientErrorf("model archive entry %q: %s", hdr.Name, fmt.Sprintf(format, args...))
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	rel, err := cleanArchivePath(hdr.Name)
	if err != nil {
		return reject("%v", err)
	}
	if rel == "" {
		if hdr.Typeflag == tar.TypeDir {
			return nil
		}
		return reject("not a directory")
	}
	// Every ancestor must be a directory we made (never a symlink).
	for i := range len(rel) {
		if rel[i] != '/' {
			continue
		}
		switch x.kinds[rel[:i]] {
		case 0:
			if err := x.root.Mkdir(rel[:i], 0o755); err != nil {
				return err
			}
			if err := x.root.Chmod(rel[:i], 0o755); err != nil {
				return err
			}
			x.kinds[rel[:i]] = tar.TypeDir
		case tar.TypeDir:
		case tar.TypeSymlink:
			return reject("inside symlink %q", rel[:i])
		default:
			return reject("inside file %q", rel[:i])
		}
	}
	existing := x.kinds[rel]
	switch hdr.Typeflag {
	case tar.TypeDir:
		if existing == tar.TypeDir {
			return nil
		}
		if existing != 0 {
			return reject("directory over an existing entry")
		}
		if err := x.root.Mkdir(rel, 0o755); err != nil {
			return err
		}
		x.kinds[rel] = tar.TypeDir
		return x.root.Chmod(rel, 0o755)

	case tar.TypeReg, tar.TypeGNUSparse:
		if err := x.replaceFile(rel, existing, reject); err != nil {
			return err
		}
		if hdr.Size > x.left {
			return clientErrorf("model archive exceeds the size limit (entry %q)", hdr.Name)
		}
		perm := os.FileMode(0o644)
		if hdr.Mode&0o111 != 0 {
			perm = 0o755
		}
		f, err := x.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return err
		}
		x.kinds[rel] = tar.TypeReg
		src := &readTracker{r: tr}
		n, err := io.Copy(f, io.LimitReader(src, x.left+1))
		x.left -= n
		if err == nil {
			err = f.Chmod(perm)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		switch {
		case err != nil && src.err != nil:
			return x.readError(err)
		case err != nil:
			return err
		case x.left < 0:
			return clientErrorf("model archive exceeds the size limit (entry %q)", hdr.Name)
		}
		return nil

	case tar.TypeSymlink:
		if existing != 0 {
			return reject("symlink over an existing entry")
		}
		if !symlinkInside(rel, hdr.Linkname) {
			return reject("symlink target %q leaves the model directory", hdr.Linkname)
		}
		if err := x.root.Symlink(hdr.Linkname, rel); err != nil {
			return err
		}
		x.kinds[rel] = tar.TypeSymlink
		return nil

	case tar.TypeLink:
		target, err := cleanArchivePath(hdr.Linkname)
		if err != nil || x.kinds[target] != tar.TypeReg {
			return reject("hard link target %q is not a file extracted earlier", hdr.Linkname)
		}
		if target == rel {
			return nil
		}
		if err := x.replaceFile(rel, existing, reject); err != nil {
			return err
		}
		if err := x.root.Link(target, rel); err != nil {
			return err
		}
		x.kinds[rel] = tar.TypeReg
		return nil

	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return reject("device and FIFO entries are not allowed")
	}
	return reject("unsupported entry type %q", hdr.Typeflag)
}

// replaceFile makes room for a regular file at rel: an earlier file is
// removed (so hard links are not written through); anything else is an error.
func (x *extractor) replaceFile(rel string, existing byte, reject func(string, ...any) error) error {
	switch existing {
	case 0:
		return nil
	case tar.TypeReg:
		return x.root.Remove(rel)
	case tar.TypeSymlink:
		return reject("file over a symlink")
	}
	return reject("file over a directory")
}
