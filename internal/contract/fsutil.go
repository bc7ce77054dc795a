package contract

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"syscall"
)

// writer creates directories and files under a root directory without ever
// following or creating symlinks. New entries copy the root's permission
// bits (files without execute bits) and, when it differs from ours and we
// are allowed to, its owner.
type writer struct {
	root     *os.Root
	dirPerm  fs.FileMode
	filePerm fs.FileMode
	uid, gid int
	chown    bool
	dirs     map[string]bool // relative directories known to exist
}

func newWriter(dir string) (*writer, error) {
	st, err := os.Lstat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	w := &writer{root: root, dirPerm: st.Mode().Perm(), filePerm: st.Mode().Perm() &^ 0o111, dirs: map[string]bool{".": true}}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		w.uid, w.gid = int(sys.Uid), int(sys.Gid)
		w.chown = w.uid != os.Geteuid() || w.gid != os.Getegid()
	}
	return w, nil
}

func (w *writer) Close() error { return w.root.Close() }

// own applies the inherited owner; refusals (we are not privileged) are ignored.
func (w *writer) own(name string) error {
	if !w.chown {
		return nil
	}
	if err := w.root.Lchown(name, w.uid, w.gid); err != nil && !errors.Is(err, fs.ErrPermission) {
		return err
	}
	return nil
}

// mkdirAll creates the directory rel and its parents; an existing component
// that is not a real directory is an error.
func (w *writer) mkdirAll(rel string) error {
	if w.dirs[rel] {
		return nil
	}
	if parent := path.Dir(rel); parent != "." {
		if err := w.mkdirAll(parent); err != nil {
			return err
		}
	}
	err := w.root.Mkdir(rel, w.dirPerm)
	switch {
	case err == nil:
		if err := w.root.Chmod(rel, w.dirPerm); err != nil {
			return err
		}
		if err := w.own(rel); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrExist):
		st, lerr := w.root.Lstat(rel)
		if lerr != nil {
			return lerr
		}
		if !st.IsDir() {
			return fmt.Errorf("%s: exists and is not a directory", rel)
		}
	default:
		return err
	}
	w.dirs[rel] = true
	return nil
}

// create creates the regular file rel (replacing an existing regular file)
// with the inherited permissions and owner.
func (w *writer) create(rel string) (*os.File, error) {
	if err := w.mkdirAll(path.Dir(rel)); err != nil {
		return nil, err
	}
	perm := w.filePerm
	for range 2 {
		f, err := w.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err == nil {
			if err := f.Chmod(perm); err != nil {
				f.Close()
				return nil, err
			}
			if w.chown {
				if err := f.Chown(w.uid, w.gid); err != nil && !errors.Is(err, fs.ErrPermission) {
					f.Close()
					return nil, err
				}
			}
			return f, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		st, lerr := w.root.Lstat(rel)
		if lerr != nil {
			return nil, lerr
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: exists and is not a regular file", rel)
		}
		if err := w.root.Remove(rel); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%s: cannot replace existing file", rel)
}

// fileEntry is a non-directory found by walkTree, or a directory.
type fileEntry struct {
	rel  string // slash-separated, relative to the walked directory
	info fs.FileInfo
}

// walkTree calls fn for every entry under root (not the root itself),
// parents before children, names sorted, without following symlinks.
// Entries that vanish during the walk are skipped; a directory replaced
// during the walk is not descended into.
func walkTree(ctx context.Context, root *os.Root, fn func(fileEntry) error) error {
	st, err := root.Lstat(".")
	if err != nil {
		return err
	}
	return walkDir(ctx, root, ".", st, fn)
}

// walkPath is walkTree on the directory dir.
func walkPath(ctx context.Context, dir string, fn func(fileEntry) error) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return walkTree(ctx, root, fn)
}

func walkDir(ctx context.Context, root *os.Root, rel string, want fs.FileInfo, fn func(fileEntry) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if now, lerr := root.Lstat(rel); lerr != nil || !os.SameFile(now, want) {
			return nil // replaced or removed since it was listed: skip
		}
		return err
	}
	got, err := d.Stat()
	if err != nil || !os.SameFile(got, want) {
		d.Close()
		return err // replaced since it was listed: skip
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, name := range names {
		child := name
		if rel != "." {
			child = rel + "/" + name
		}
		info, err := root.Lstat(child)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return err
		}
		if err := fn(fileEntry{rel: child, info: info}); err != nil {
			return err
		}
		if info.IsDir() {
			if err := walkDir(ctx, root, child, info, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// openRegular opens rel under root for reading if it is still the regular
// file want describes (never blocking on a FIFO swapped in meanwhile).
func openRegular(root *os.Root, rel string, want fs.FileInfo) (*os.File, fs.FileInfo, error) {
	f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err == nil && (!st.Mode().IsRegular() || (want != nil && !os.SameFile(st, want))) {
		err = fmt.Errorf("%s: changed while reading", rel)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
