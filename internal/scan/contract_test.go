package scan

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/wharfml/wharf/internal/store/sqlite"
)

func exe(name string) entry { return entry{name: name, body: "#!/bin/sh\nexit 0\n", mode: 0o755} }

func symlink(name, target string) entry {
	return entry{name: name, typeflag: tar.TypeSymlink, link: target}
}

func withConfig(t *testing.T, img v1.Image, cfg v1.Config) v1.Image {
	t.Helper()
	img, err := mutate.Config(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func contractOf(t *testing.T, img v1.Image, opts Options) *Contract {
	t.Helper()
	_, c, err := Analyze(context.Background(), img, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c == nil {
		t.Fatal("no contract")
	}
	return c
}

// want checks one invocation result and that its reason says what it should.
func want(t *testing.T, what string, ok bool, reason string, wantOK bool, wantReason string) {
	t.Helper()
	if ok != wantOK || !strings.Contains(reason, wantReason) {
		t.Errorf("%s: invocable=%v reason=%q; want %v and a reason containing %q", what, ok, reason, wantOK, wantReason)
	}
}

func hasWarning(c *Contract, sub string) bool {
	for _, w := range c.Warnings {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

func TestContractEntrypointExecForm(t *testing.T) {
	base := layer(t, exe("usr/bin/python3"), file("opt/program/run.py", "print('hi')\n"))
	img := withConfig(t, image(t, base), v1.Config{Entrypoint: []string{"/usr/bin/python3", "/opt/program/run.py"}, Cmd: []string{"--help"}})
	c := contractOf(t, img, Options{})
	want(t, "train", c.TrainInvocable, c.TrainReason, true, `ENTRYPOINT ["/usr/bin/python3","/opt/program/run.py"] receives 'train'`)
	want(t, "serve", c.ServeInvocable, c.ServeReason, true, "receives 'serve'")
	if len(c.Cmd) != 1 || c.Cmd[0] != "--help" || len(c.Entrypoint) != 2 {
		t.Errorf("entrypoint/cmd = %q %q", c.Entrypoint, c.Cmd)
	}

	// A bare name is looked up on PATH.
	img = withConfig(t, image(t, base), v1.Config{Entrypoint: []string{"python3", "/opt/program/run.py"}})
	c = contractOf(t, img, Options{})
	want(t, "bare name", c.TrainInvocable, c.TrainReason, true, "receives 'train'")

	// The ENTRYPOINT program must exist and be executable.
	img = withConfig(t, image(t, base), v1.Config{Entrypoint: []string{"/opt/program/run.py"}})
	c = contractOf(t, img, Options{})
	want(t, "non-executable entrypoint", c.TrainInvocable, c.TrainReason, false, "/opt/program/run.py is not executable")
	img = withConfig(t, image(t, base), v1.Config{Entrypoint: []string{"/app/start"}})
	c = contractOf(t, img, Options{})
	want(t, "missing entrypoint", c.TrainInvocable, c.TrainReason, false, "/app/start does not exist in the image")
	if !hasWarning(c, "neither 'train' nor 'serve'") {
		t.Errorf("warnings = %q", c.Warnings)
	}
	img = withConfig(t, image(t, base), v1.Config{Entrypoint: []string{"gunicorn"}})
	c = contractOf(t, img, Options{})
	want(t, "entrypoint not on PATH", c.TrainInvocable, c.TrainReason, false, `no executable "gunicorn" on PATH`)

	// Relative to WORKDIR.
	img = withConfig(t, image(t, layer(t, exe("srv/app/entry.sh"))), v1.Config{Entrypoint: []string{"./entry.sh"}, WorkingDir: "/srv/app"})
	c = contractOf(t, img, Options{})
	want(t, "workdir-relative", c.TrainInvocable, c.TrainReason, true, "receives 'train'")
}

func TestContractEntrypointShellForm(t *testing.T) {
	base := layer(t, exe("bin/sh"), exe("usr/bin/python3"))
	// Dockerfile `ENTRYPOINT python3 /opt/run.py` is stored as /bin/sh -c "...":
	// the appended "train" becomes $0 of the shell and is lost.
	img := withConfig(t, image(t, base), v1.Config{Entrypoint: []string{"/bin/sh", "-c", "python3 /opt/run.py"}})
	c := contractOf(t, img, Options{})
	want(t, "shell form", c.TrainInvocable, c.TrainReason, false, "shell form: 'train' becomes $0")
	want(t, "shell form serve", c.ServeInvocable, c.ServeReason, false, "use the exec form")
	if !hasWarning(c, "shell form") {
		t.Errorf("no signal warning: %q", c.Warnings)
	}

	// A script that reads $0, or "$@" after an explicit $0, does get it.
	img = withConfig(t, image(t, base), v1.Config{Entrypoint: []string{"/bin/sh", "-c", `exec python3 /opt/run.py "$0"`}})
	c = contractOf(t, img, Options{})
	want(t, "shell form with $0", c.TrainInvocable, c.TrainReason, true, "as $0")
	img = withConfig(t, image(t, base), v1.Config{Entrypoint: []string{"/bin/sh", "-c", `exec python3 /opt/run.py "$@"`, "sh"}})
	c = contractOf(t, img, Options{})
	want(t, "shell form with $@", c.TrainInvocable, c.TrainReason, true, "as $1")
}

func TestContractTrainOnPath(t *testing.T) {
	img := image(t, layer(t, exe("usr/local/bin/train"), file("usr/local/bin/serve", "not executable")))
	c := contractOf(t, img, Options{})
	want(t, "train", c.TrainInvocable, c.TrainReason, true, "/usr/local/bin/train is executable on PATH")
	want(t, "serve", c.ServeInvocable, c.ServeReason, false, "/usr/local/bin/serve is not executable")
	if c.Path != DefaultPath {
		t.Errorf("path = %q", c.Path)
	}

	// exec(3) skips a non-executable match and takes a later executable one.
	img = image(t, layer(t, file("usr/local/bin/train", "x"), exe("usr/bin/train")))
	c = contractOf(t, img, Options{})
	want(t, "later match", c.TrainInvocable, c.TrainReason, true, "/usr/bin/train is executable on PATH")

	// A directory named train is no program; neither is a file off PATH.
	img = image(t, layer(t, entry{name: "usr/bin/train/", typeflag: tar.TypeDir, mode: 0o755}, exe("opt/ml/code/train")))
	c = contractOf(t, img, Options{})
	want(t, "directory", c.TrainInvocable, c.TrainReason, false, "/usr/bin/train is a directory")
	want(t, "off PATH", c.ServeInvocable, c.ServeReason, false, `no ENTRYPOINT, and no executable "serve" on PATH`)

	// A hard link carries its own mode.
	img = image(t, layer(t, exe("opt/bin/tool"), entry{name: "usr/bin/train", typeflag: tar.TypeLink, link: "opt/bin/tool", mode: 0o755}))
	c = contractOf(t, img, Options{})
	want(t, "hard link", c.TrainInvocable, c.TrainReason, true, "/usr/bin/train is executable on PATH")
}

func TestContractTrainNotExecutable(t *testing.T) {
	img := image(t, layer(t, entry{name: "usr/local/bin/train", body: "#!/bin/sh\n", mode: 0o644}))
	c := contractOf(t, img, Options{})
	want(t, "train", c.TrainInvocable, c.TrainReason, false, "no ENTRYPOINT, and /usr/local/bin/train is not executable")

	// A later layer fixing the mode wins.
	img = image(t, layer(t, entry{name: "usr/local/bin/train", body: "#!/bin/sh\n", mode: 0o644}), layer(t, exe("usr/local/bin/train")))
	c = contractOf(t, img, Options{})
	want(t, "fixed above", c.TrainInvocable, c.TrainReason, true, "is executable on PATH")
}

func TestContractTrainRemovedByWhiteout(t *testing.T) {
	lower := layer(t, exe("usr/local/bin/train"), exe("usr/local/bin/serve"))
	img := image(t, lower, layer(t, file("usr/local/bin/.wh.train", "")))
	c := contractOf(t, img, Options{})
	want(t, "whited-out train", c.TrainInvocable, c.TrainReason, false, `no executable "train" on PATH`)
	want(t, "serve kept", c.ServeInvocable, c.ServeReason, true, "/usr/local/bin/serve is executable on PATH")

	// An opaque directory hides both; a whiteout of the directory too.
	for _, upper := range []v1.Layer{
		layer(t, file("usr/local/bin/.wh..wh..opq", "")),
		layer(t, file("usr/local/.wh.bin", "")),
	} {
		c = contractOf(t, image(t, lower, upper), Options{})
		want(t, "hidden train", c.TrainInvocable, c.TrainReason, false, "no executable")
		want(t, "hidden serve", c.ServeInvocable, c.ServeReason, false, "no executable")
	}

	// Whiteout and re-creation in the same layer: the new file counts.
	img = image(t, lower, layer(t, file("usr/local/bin/.wh.train", ""), entry{name: "usr/local/bin/train", body: "x", mode: 0o600}))
	c = contractOf(t, img, Options{})
	want(t, "re-created", c.TrainInvocable, c.TrainReason, false, "/usr/local/bin/train is not executable")
}

func TestContractSymlinks(t *testing.T) {
	img := image(t,
		layer(t,
			exe("opt/program/train"),
			exe("usr/bin/serve-real"),
			// Merged /usr: /bin is a symlink to usr/bin.
			symlink("bin", "usr/bin"),
		),
		layer(t,
			symlink("usr/local/bin/train", "../../../opt/program/train"),
			symlink("usr/bin/serve", "/bin/serve-real"),
		),
	)
	img = withConfig(t, img, v1.Config{Env: []string{"PATH=/bin:/usr/local/bin"}})
	c := contractOf(t, img, Options{})
	want(t, "relative symlink", c.TrainInvocable, c.TrainReason, true, "/usr/local/bin/train is executable on PATH (resolves to /opt/program/train)")
	want(t, "through a symlinked dir", c.ServeInvocable, c.ServeReason, true, "/bin/serve is executable on PATH (resolves to /usr/bin/serve-real)")

	// Symlink to a non-executable file, a dangling one, a loop.
	img = image(t, layer(t,
		file("opt/model.bin", "weights"),
		symlink("usr/local/bin/train", "/opt/model.bin"),
		symlink("usr/local/bin/serve", "/opt/nowhere"),
		symlink("usr/bin/serve", "serve2"), symlink("usr/bin/serve2", "serve"),
	))
	c = contractOf(t, img, Options{})
	want(t, "to non-executable", c.TrainInvocable, c.TrainReason, false, "/usr/local/bin/train (resolves to /opt/model.bin) is not executable")
	want(t, "dangling", c.ServeInvocable, c.ServeReason, false, "/usr/local/bin/serve is a dangling symlink (to /opt/nowhere)")
	img = image(t, layer(t, symlink("usr/local/bin/serve", "serve2"), symlink("usr/local/bin/serve2", "serve")))
	c = contractOf(t, img, Options{})
	want(t, "loop", c.ServeInvocable, c.ServeReason, false, "too many levels of symlinks")

	// A target the kernel would refuse (PATH_MAX) resolves nowhere and is not kept.
	img = image(t, layer(t, exe("opt/x/train"), symlink("usr/local/bin/train", "/opt/x/"+strings.Repeat("./", 2100)+"train")))
	c = contractOf(t, img, Options{})
	want(t, "overlong target", c.TrainInvocable, c.TrainReason, false, "dangling symlink")
}

func TestContractSymlinkEscapingRoot(t *testing.T) {
	// The target exists and is executable on the host running the scan, but
	// not in the image: it must not count, whatever the host has.
	hostDir := t.TempDir()
	hostExe := filepath.Join(hostDir, "train")
	if err := os.WriteFile(hostExe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	escape := strings.Repeat("../", 12) + strings.TrimPrefix(hostExe, "/")
	img := image(t, layer(t,
		symlink("usr/local/bin/train", escape),
		symlink("usr/local/bin/serve", hostExe),
	))
	c := contractOf(t, img, Options{})
	want(t, "relative escape", c.TrainInvocable, c.TrainReason, false, "dangling symlink (to "+hostExe+")")
	want(t, "absolute host path", c.ServeInvocable, c.ServeReason, false, "dangling symlink")
	if !hasWarning(c, "symlink /usr/local/bin/train climbs above the image root") {
		t.Errorf("warnings = %q", c.Warnings)
	}

	// ".." at the root stays at the root, as in the container: a climbing
	// link reaches the image's own file, never the host's.
	img = image(t, layer(t, exe("opt/program/train"), symlink("usr/local/bin/train", strings.Repeat("../", 9)+"opt/program/train")))
	c = contractOf(t, img, Options{})
	want(t, "clamped", c.TrainInvocable, c.TrainReason, true, "(resolves to /opt/program/train)")
}

func TestContractCustomPath(t *testing.T) {
	layers := layer(t, exe("opt/program/train"), exe("usr/local/bin/serve"))
	img := withConfig(t, image(t, layers), v1.Config{Env: []string{"LANG=C.UTF-8", "PATH=/usr/bin", "PATH=/opt/program:/usr/bin"}})
	c := contractOf(t, img, Options{})
	if c.Path != "/opt/program:/usr/bin" {
		t.Errorf("path = %q", c.Path)
	}
	want(t, "train on custom PATH", c.TrainInvocable, c.TrainReason, true, "/opt/program/train is executable on PATH")
	want(t, "serve off custom PATH", c.ServeInvocable, c.ServeReason, false, `no executable "serve" on PATH /opt/program:/usr/bin`)

	// Without PATH, Docker's default applies: /opt/program is not on it.
	c = contractOf(t, image(t, layers), Options{})
	want(t, "train off default PATH", c.TrainInvocable, c.TrainReason, false, "no executable")
	want(t, "serve on default PATH", c.ServeInvocable, c.ServeReason, true, "/usr/local/bin/serve")

	// A relative PATH entry is relative to WORKDIR.
	img = withConfig(t, image(t, layers), v1.Config{Env: []string{"PATH=program"}, WorkingDir: "/opt"})
	c = contractOf(t, img, Options{})
	want(t, "relative PATH entry", c.TrainInvocable, c.TrainReason, true, "/opt/program/train is executable on PATH")
}

func TestContractInitWrapper(t *testing.T) {
	base := layer(t, exe("usr/bin/tini"), exe("usr/local/bin/train"), exe("usr/bin/python3"))
	img := withConfig(t, image(t, base), v1.Config{Entrypoint: []string{"/usr/bin/tini", "-g", "--"}})
	c := contractOf(t, img, Options{})
	want(t, "tini train", c.TrainInvocable, c.TrainReason, true, `ENTRYPOINT ["/usr/bin/tini","-g","--"] runs 'train' as a command: /usr/local/bin/train is executable on PATH`)
	want(t, "tini serve", c.ServeInvocable, c.ServeReason, false, `runs 'serve' as a command, but no executable "serve" on PATH`)

	// tini -- python3 app.py: python3 gets the argument.
	img = withConfig(t, image(t, base), v1.Config{Entrypoint: []string{"tini", "--", "python3", "/app.py"}})
	c = contractOf(t, img, Options{})
	want(t, "tini + program", c.ServeInvocable, c.ServeReason, true, "receives 'serve'")
}

func TestContractConfigFacts(t *testing.T) {
	e1 := []entry{exe("usr/local/bin/serve"), file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nsagemaker:x:1000:1000::/home/sagemaker:/bin/sh\nadmin:x:0:0::/:/bin/sh\n")}
	e2 := []entry{file("opt/ml/code/model.py", strings.Repeat("w", 5000))}
	img := image(t, layer(t, e1...), layer(t, e2...))
	tarSize := int64(len(tarBytes(t, e1)) + len(tarBytes(t, e2)))

	c := contractOf(t, withConfig(t, img, v1.Config{}), Options{})
	if !c.ServeInvocable || c.AcceptBindToPort != LabelAbsent || len(c.ExposedPorts) != 0 || !c.UserIsRoot || c.User != "" {
		t.Fatalf("defaults: %+v", c)
	}
	if !hasWarning(c, "neither exposes 8080/tcp nor sets "+BindToPortLabel) {
		t.Errorf("no port warning: %q", c.Warnings)
	}
	if c.UncompressedSize != tarSize {
		t.Errorf("uncompressed = %d, want %d", c.UncompressedSize, tarSize)
	}
	layers, _ := img.Layers()
	var compressed int64
	for _, l := range layers {
		n, _ := l.Size()
		compressed += n
	}
	if c.CompressedSize != compressed || compressed == 0 {
		t.Errorf("compressed = %d, want %d", c.CompressedSize, compressed)
	}

	c = contractOf(t, withConfig(t, img, v1.Config{
		ExposedPorts: map[string]struct{}{"8080/tcp": {}, "9000/udp": {}},
		Labels:       map[string]string{BindToPortLabel: "true"},
		User:         "sagemaker:sagemaker",
	}), Options{WarnImageSize: 1000})
	if c.AcceptBindToPort != LabelTrue || strings.Join(c.ExposedPorts, ",") != "8080/tcp,9000/udp" || c.UserIsRoot || c.User != "sagemaker:sagemaker" {
		t.Fatalf("facts: %+v", c)
	}
	if hasWarning(c, "8080") || !hasWarning(c, "more than the 1000 bytes") {
		t.Errorf("warnings = %q", c.Warnings)
	}

	for user, root := range map[string]bool{"0": true, "root": true, "1000": false, "admin": true, "0:1000": true} {
		c = contractOf(t, withConfig(t, img, v1.Config{User: user}), Options{})
		if c.UserIsRoot != root || len(c.Warnings) != 1 { // the port warning only
			t.Errorf("user %q: root=%v warnings=%q", user, c.UserIsRoot, c.Warnings)
		}
	}
	c = contractOf(t, withConfig(t, img, v1.Config{User: "nobody", Labels: map[string]string{BindToPortLabel: "yes"}}), Options{})
	if c.UserIsRoot || !hasWarning(c, "USER nobody is not in /etc/passwd") || c.AcceptBindToPort != LabelFalse || !hasWarning(c, `is "yes"`) {
		t.Errorf("unknown user / odd label: %+v", c)
	}
}

// TestServiceStoresContract: a scan run by the Service stores the contract
// with the result, and Get returns it.
func TestServiceStoresContract(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	img := withConfig(t, image(t, debianBase(t), layer(t, exe("usr/local/bin/train"))), v1.Config{Labels: map[string]string{BindToPortLabel: "false"}})
	svc := &Service{Store: st, Images: fixedImages{"algo@sha256:1": img}}
	go svc.Run(ctx)
	if err := svc.Enqueue(ctx, "111111111111", "algo", "sha256:1"); err != nil {
		t.Fatal(err)
	}
	var res Result
	for deadline := time.Now().Add(10 * time.Second); ; {
		var ok bool
		if res, ok, err = svc.Get(ctx, "111111111111", "algo", "sha256:1"); err != nil || !ok {
			t.Fatalf("get: %v %v", ok, err)
		}
		if res.Status != StatusInProgress || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if res.Status != StatusComplete || res.Contract == nil || !res.Contract.TrainInvocable || res.Contract.ServeInvocable ||
		res.Contract.AcceptBindToPort != LabelFalse || res.SBOM == nil || len(res.SBOM.Packages) == 0 {
		t.Fatalf("result: %+v contract %+v", res, res.Contract)
	}
}

type fixedImages map[string]v1.Image

func (f fixedImages) V1Image(_ context.Context, repo, digest string) (v1.Image, error) {
	if img, ok := f[repo+"@"+digest]; ok {
		return img, nil
	}
	return nil, os.ErrNotExist
}
