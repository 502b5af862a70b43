package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/syscount"
)

const childEnv = "AUDIT_TEST_CHILD" // "<path> <events> <step|free>"

// TestChild is the child process of the tests below: it appends events to
// a log as a job does (Write per event, Close at the end). With "step" it
// reports each event on stdout and waits for a byte on stdin before the
// next, so the parent can kill it right after any event.
func TestChild(t *testing.T) {
	arg := os.Getenv(childEnv)
	if arg == "" {
		t.Skip("child process only")
	}
	f := strings.Fields(arg)
	n, _ := strconv.Atoi(f[1])
	l, err := Open(f[0])
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	in := bufio.NewReader(os.Stdin)
	for i := 1; i <= n; i++ {
		if err := l.Write(event(i)); err != nil {
			fmt.Println("write:", err)
			os.Exit(1)
		}
		if f[2] == "step" {
			fmt.Println(i)
			if _, err := in.ReadByte(); err != nil {
				os.Exit(1)
			}
		}
	}
	if err := l.Close(); err != nil {
		fmt.Println("close:", err)
		os.Exit(1)
	}
	fmt.Println("done")
	os.Exit(0)
}

func event(i int) Event {
	return Event{Time: time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC), Job: "snapshot", Action: "snapshot",
		Subvolume: "@persist", Path: "@snapshots/@persist/" + strings.Repeat("x", i%7*300) + strconv.Itoa(i),
		Result: ResultSuccess, Duration: float64(i)}
}

func events(from, to int) []Event {
	var out []Event
	for i := from; i <= to; i++ {
		out = append(out, event(i))
	}
	return out
}

// wholeLines fails unless every line of the file is a whole event followed
// by its newline, and returns them.
func wholeLines(t *testing.T, path string) []Event {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%s ends in a torn line: %q", path, b[max(0, len(b)-80):])
	}
	var out []Event
	for i, ln := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(ln) == 0 && len(b) == 0 {
			break
		}
		var e Event
		dec := json.NewDecoder(bytes.NewReader(ln))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil || dec.More() {
			t.Fatalf("%s line %d is not one whole event (%v): %q", path, i+1, err, ln)
		}
		out = append(out, e)
	}
	return out
}

// A job killed right after any of its events keeps every event written so
// far, each whole; a job that finishes has all of them.
func TestSIGKILLAfterEachEvent(t *testing.T) {
	const n = 8
	// k = 1…n: killed right after event k (k = n: before Close); n+1: the
	// run finishes.
	for k := 1; k <= n+1; k++ {
		t.Run(strconv.Itoa(k), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log/audit.jsonl")
			cmd := syscount.Self("TestChild", fmt.Sprintf("%s=%s %d step", childEnv, path, n))
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			out := bufio.NewScanner(stdout)
			for i := 1; i <= n; i++ {
				if !out.Scan() || out.Text() != strconv.Itoa(i) {
					t.Fatalf("child: %q, want %d", out.Text(), i)
				}
				if i == k {
					cmd.Process.Signal(syscall.SIGKILL)
					break
				}
				io.WriteString(stdin, "\n")
			}
			rest, _ := io.ReadAll(stdout)
			err := cmd.Wait()
			want := events(1, min(k, n))
			if k <= n {
				var ee *exec.ExitError
				if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() {
					t.Fatalf("child was not killed: %v %s", err, rest)
				}
			} else if err != nil || string(rest) != "done\n" {
				t.Fatalf("child: %v %q", err, rest)
			}
			if diff := cmp.Diff(want, wholeLines(t, path)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// Killed at random moments while it appends as fast as it can (mid-write
// included: a write(2) that crosses a page can be cut short by SIGKILL), a
// job may leave a torn last line; the next writer's Open removes it, so
// the log holds only whole lines, and the next events follow whole.
func TestSIGKILLAtRandom(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	torn := 0
	for range 20 {
		cmd := syscount.Self("TestChild", fmt.Sprintf("%s=%s %d free", childEnv, path, 100000))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(5+rand.IntN(30)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if b, _ := os.ReadFile(path); len(b) > 0 && b[len(b)-1] != '\n' {
			torn++
		}
		l, err := Open(path) // the next job
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		wholeLines(t, path)
	}
	t.Logf("%d of 20 kills tore the last line", torn)
	before := len(wholeLines(t, path))
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Write(event(1))
	l.Close()
	if got := wholeLines(t, path); len(got) != before+1 || !cmp.Equal(got[before], event(1)) {
		t.Errorf("the next event: %d events, want %d, last %+v", len(got), before+1, got[len(got)-1])
	}
}

// A run of 50 events costs one fsync: at Close.
func TestOneFsyncPerRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	calls := syscount.Run(t, syscount.Self("TestChild", fmt.Sprintf("%s=%s %d free", childEnv, path, 50)),
		"fsync", "fdatasync", "sync_file_range", "syncfs", "sync")
	want := []syscount.Call{{Name: "fsync", File: path}}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("sync calls of a run of 50 events (-want +got):\n%s", diff)
	}
	if got := wholeLines(t, path); !cmp.Equal(got, events(1, 50)) {
		t.Errorf("events: %d, want 50", len(got))
	}
}

// Sync and Close without a new event do not fsync; Append does at once.
func TestSyncOnlyWhenWritten(t *testing.T) {
	if os.Getenv(childEnv+"_SYNC") != "" {
		l, err := Open(os.Getenv(childEnv + "_SYNC"))
		if err != nil {
			os.Exit(1)
		}
		l.Sync()           // nothing written: no fsync
		l.Append(event(1)) // one
		l.Sync()           // nothing since: none
		l.Write(event(2))  // none yet
		l.Close()          // one
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	calls := syscount.Run(t, syscount.Self("TestSyncOnlyWhenWritten", childEnv+"_SYNC="+path), "fsync", "fdatasync")
	want := []syscount.Call{{Name: "fsync", File: path}, {Name: "fsync", File: path}}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("fsyncs (-want +got):\n%s", diff)
	}
}

// A torn last line (a writer killed mid-write, a power cut) is cut by the
// next writer when no other has the log open; with another writer it is
// terminated instead, and Read reports it by number. The next event stays
// whole either way.
func TestTornTail(t *testing.T) {
	whole, _ := json.Marshal(event(1))
	second, _ := json.Marshal(event(2))
	const frag = `{"time":"2026-12-01T03:00:00Z","job":"sna`
	for _, tc := range []struct {
		name, content, want, readErr string
		otherWriter                  bool
	}{
		{name: "cut", content: string(whole) + "\n" + frag, want: string(whole) + "\n" + string(second) + "\n"},
		{name: "only a fragment", content: frag, want: string(second) + "\n"},
		{name: "whole", content: string(whole) + "\n", want: string(whole) + "\n" + string(second) + "\n"},
		{name: "another writer", content: string(whole) + "\n" + frag, otherWriter: true,
			want:    string(whole) + "\n" + frag + "\n" + string(second) + "\n",
			readErr: "line 2: unexpected end of JSON input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			os.WriteFile(path, []byte(tc.content), 0o600)
			if tc.otherWriter {
				o, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer o.Close()
				syscall.Flock(int(o.Fd()), syscall.LOCK_SH)
			}
			l, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Write(event(2)); err != nil {
				t.Fatal(err)
			}
			l.Close()
			b, _ := os.ReadFile(path)
			if diff := cmp.Diff(tc.want, string(b)); diff != "" {
				t.Errorf("log (-want +got):\n%s", diff)
			}
			_, err = Read(path)
			if tc.readErr != "" {
				if want := "read audit log " + path + ": " + tc.readErr; err == nil || err.Error() != want {
					t.Errorf("Read error %v, want %q", err, want)
				}
			} else if err != nil {
				t.Errorf("Read: %v", err)
			}
		})
	}
}
