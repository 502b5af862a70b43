package adversarial_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// generate runs the generator as systemd does (three output directories),
// in a private mount namespace whose /etc is a tmpfs holding only the
// configuration text (and /etc/initrd-release when initrd): what it wrote,
// one line per file or link, and its exit code.
func generate(t *testing.T, text string, initrd bool) ([]string, int) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	for _, d := range []string{"normal", "early", "late"} {
		os.MkdirAll(filepath.Join(out, d), 0o755)
	}
	script := `set -e; mount -t tmpfs tmpfs /etc; mkdir /etc/server-impermanence
cp "$CFG" /etc/server-impermanence/config.toml; if [ -n "$INITRD" ]; then echo NAME=initrd >/etc/initrd-release; fi
exec "$@"`
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh",
		filepath.Join(bin, "server-impermanence-generator"), out+"/normal", out+"/early", out+"/late")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "CFG=" + cfg}
	if initrd {
		cmd.Env = append(cmd.Env, "INITRD=1")
	}
	b, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("generator: %v\n%s", err, b)
	}
	var files []string
	filepath.Walk(out, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		if info.Mode()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			rel += " -> " + target
		}
		files = append(files, rel)
		return nil
	})
	slices.Sort(files)
	return files, code
}

// TestGeneratorInvalidEmitsOnlyTheFallback: for the first refused case of
// every key and every whole-file case, the generator (host and initrd)
// exits 1 and writes only the hook of server-impermanence-config-error.service:
// no mount, no rollback. The valid base configuration does hook the
// rollback in the initrd, so the check can fail.
func TestGeneratorInvalidEmitsOnlyTheFallback(t *testing.T) {
	need(t, true)
	base := strings.Join(baseLines, "\n") + "\n"
	files, code := generate(t, base, true)
	if want := "normal/initrd.target.wants/server-impermanence-setup.service -> /usr/lib/systemd/system/server-impermanence-setup.service"; code != 0 || !slices.Contains(files, want) {
		t.Fatalf("the valid base in the initrd: exit %d, wrote %q; want exit 0 and %s", code, files, want)
	}
	seen := map[string]bool{}
	n := 0
	for _, c := range configCases() {
		id := c.key.Table + ":" + c.key.Name
		if c.ok || (c.text == "" && (c.want != nil || c.either || seen[id])) {
			continue
		}
		seen[id] = true
		text, _, _, _ := c.document()
		for _, initrd := range []bool{false, true} {
			target := "multi-user.target.wants"
			if initrd {
				target = "initrd.target.wants"
			}
			want := []string{fmt.Sprintf("normal/%s/server-impermanence-config-error.service -> /usr/lib/systemd/system/server-impermanence-config-error.service", target)}
			files, code := generate(t, text, initrd)
			n++
			if diff := cmp.Diff(want, files); code != 1 || diff != "" {
				t.Errorf("%s (initrd %v): exit %d, want 1; output (-want +got):\n%s", c.name, initrd, code, diff)
			}
		}
	}
	count("generator fallback", n)
	t.Logf("%d invalid configurations generated: only the fallback each time", n)
}
