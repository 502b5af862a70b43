package blanks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/config"
)

func TestTrialFile(t *testing.T) {
	top := t.TempDir()
	rel := TrialPath(config.Default())
	if rel != "old_roots/.blank-trial.json" {
		t.Errorf("TrialPath = %s", rel)
	}
	if tr, err := ReadTrial(top, rel); tr != nil || err != nil {
		t.Errorf("ReadTrial of none = %v, %v", tr, err)
	}
	want := Trial{Version: TrialVersion, Subvolume: "@root", Blank: "@root-blank", UUID: "u", Committed: t0, Fallback: "f", FallbackUUID: "fu", Tries: 1}
	if err := WriteTrial(top, rel, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTrial(top, rel)
	if err != nil || got == nil {
		t.Fatalf("ReadTrial = %v, %v", got, err)
	}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("trial round trip (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(filepath.Join(top, rel)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("trial file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	if err := RemoveTrial(top, rel); err != nil {
		t.Fatal(err)
	}
	if err := RemoveTrial(top, rel); err != nil {
		t.Errorf("RemoveTrial twice: %v", err)
	}
	if tr, _ := ReadTrial(top, rel); tr != nil {
		t.Error("trial still there")
	}
	os.WriteFile(filepath.Join(top, rel), []byte(`{"version": 9}`), 0o600)
	if _, err := ReadTrial(top, rel); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Errorf("ReadTrial of version 9: %v", err)
	}
}

func TestStatusFile(t *testing.T) {
	run := t.TempDir()
	if _, ok, err := ReadStatus(run); ok || err != nil {
		t.Errorf("ReadStatus of none = %t, %v", ok, err)
	}
	want := Status{Version: StatusVersion, BootID: "0123abcd", Choices: []Choice{{Subvolume: "@root", Blank: "@root-blank",
		From: hour(1), UUID: "x", Source: SourceFallback, Fallback: true, Reason: "r", History: 3}}}
	if err := WriteStatus(run, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := ReadStatus(run)
	if !ok || err != nil {
		t.Fatalf("ReadStatus = %t, %v", ok, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status round trip (-want +got):\n%s", diff)
	}
}
