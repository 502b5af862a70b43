package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	sdjournal "github.com/coreos/go-systemd/v22/journal"
	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/msgid"
)

type entry struct {
	msg  string
	prio sdjournal.Priority
	vars map[string]string
}

func fake(entries *[]entry, err error) Options {
	return Options{
		Identifier: "impermanence-rollback",
		Enabled:    func() bool { return true },
		Send: func(m string, p sdjournal.Priority, v map[string]string) error {
			*entries = append(*entries, entry{m, p, v})
			return err
		},
	}
}

func TestHandlerFields(t *testing.T) {
	var got []entry
	log := New(fake(&got, nil)).With("job", "rollback")
	log.Info("rollback done", MessageID(msgid.RollbackDone), "subvolume", "@root",
		slog.Group("archive", "path", "old_roots/@root/x"), "duration", 1500*time.Millisecond,
		"error", errors.New("boom"), "bad-key.x", 1, "_trusted", "x")
	log.WithGroup("prune").Warn("kept", "reason", "mounted")
	log.Debug("hidden")
	want := []entry{
		{"rollback done", sdjournal.PriInfo, map[string]string{
			"SYSLOG_IDENTIFIER": "impermanence-rollback", "JOB": "rollback",
			"MESSAGE_ID": msgid.RollbackDone, "SUBVOLUME": "@root", "ARCHIVE_PATH": "old_roots/@root/x",
			"DURATION": "1.5s", "ERROR": "boom", "BAD_KEY_X": "1", "TRUSTED": "x",
		}},
		{"kept", sdjournal.PriWarning, map[string]string{
			"SYSLOG_IDENTIFIER": "impermanence-rollback", "JOB": "rollback", "PRUNE_REASON": "mounted",
		}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(entry{})); diff != "" {
		t.Errorf("journal entries (-want +got):\n%s", diff)
	}
}

func TestPriority(t *testing.T) {
	for l, want := range map[slog.Level]sdjournal.Priority{
		slog.LevelDebug: sdjournal.PriDebug, slog.LevelInfo: sdjournal.PriInfo,
		slog.LevelWarn: sdjournal.PriWarning, slog.LevelError: sdjournal.PriErr, slog.LevelError + 4: sdjournal.PriErr,
	} {
		if got := Priority(l); got != want {
			t.Errorf("Priority(%v) = %v, want %v", l, got, want)
		}
	}
}

func TestFieldName(t *testing.T) {
	for in, want := range map[string]string{"subvolume": "SUBVOLUME", "a.b-c": "A_B_C", "_x": "X", "9a": "A", "": "",
		strings.Repeat("a", 70): strings.Repeat("A", 64)} {
		if got := FieldName(in); got != want {
			t.Errorf("FieldName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFallbackToStderr(t *testing.T) {
	var stderr bytes.Buffer
	New(Options{Identifier: "x", Stderr: &stderr, Enabled: func() bool { return false }}).
		Info("rollback done", MessageID(msgid.RollbackDone), "subvolume", "@root")
	if got := stderr.String(); !strings.Contains(got, "rollback done") || !strings.Contains(got, "subvolume=@root") {
		t.Errorf("stderr = %q, want the entry as text", got)
	}
	// A journal that refuses an entry: it still reaches stderr.
	stderr.Reset()
	var sent []entry
	o := fake(&sent, errors.New("connection refused"))
	o.Stderr = &stderr
	New(o).Warn("kept", "reason", "mounted")
	if !strings.Contains(stderr.String(), "reason=mounted") {
		t.Errorf("stderr after a refused send = %q", stderr.String())
	}
}

// helperEnv makes the test binary log one entry and exit (see TestRealJournald).
const helperEnv = "IMPERMANENCE_JOURNAL_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		if !sdjournal.Enabled() {
			fmt.Fprintln(os.Stderr, "no journal socket")
			os.Exit(3)
		}
		New(Options{Identifier: "impermanence-journal-test"}).Warn("archive kept",
			MessageID(msgid.ArchivePruned), "subvolume", "@root", "path", "old_roots/@root/20260101T000000Z-0123abcd")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRealJournald starts a private systemd-journald in its own mount
// namespace (tmpfs on /run and /var/log/journal), logs through the handler
// from a child process and reads the entry back with journalctl.
func TestRealJournald(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a private journald in a mount namespace")
	}
	for _, p := range []string{"unshare", "journalctl", "/lib/systemd/systemd-journald"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not available: %v", p, err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := `set -e
mount -t tmpfs tmpfs /run
mkdir -p /var/log/journal && mount -t tmpfs tmpfs /var/log/journal
/lib/systemd/systemd-journald </dev/null >/dev/null 2>&1 &
jpid=$!
trap 'kill $jpid 2>/dev/null' EXIT
for i in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
"$1" -test.run '^$'
sleep 0.3
journalctl -D /run/log/journal -o json --no-pager SYSLOG_IDENTIFIER=impermanence-journal-test
`
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", self)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("cannot run a private journald here: %v: %s", err, stderr.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]), &got); err != nil {
		t.Fatalf("journalctl output %q: %v (stderr %s)", out, err, stderr.String())
	}
	for k, want := range map[string]string{
		"MESSAGE": "archive kept", "MESSAGE_ID": msgid.ArchivePruned, "PRIORITY": "4",
		"SYSLOG_IDENTIFIER": "impermanence-journal-test", "SUBVOLUME": "@root",
		"PATH": "old_roots/@root/20260101T000000Z-0123abcd", "_TRANSPORT": "journal",
	} {
		if got[k] != want {
			t.Errorf("journal field %s = %v, want %q", k, got[k], want)
		}
	}
}
