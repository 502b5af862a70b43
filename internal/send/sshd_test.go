package send

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/jobtest"
)

// backupHost is a real OpenSSH sshd on 127.0.0.1 inside a network
// namespace of its own (unshare -n: loopback only), with a throwaway host
// key, and a client key whose authorized_keys line is the forced command
// exactly as docs/replication.md gives it (with the test's root and the
// freshly built receiver). ssh reaches it through a wrapper first in PATH
// that enters the namespace and names the test's known_hosts.
type backupHost struct {
	dir      string
	root     string // the receiver's --root
	key      string // the client's private key
	receiver string // the built impermanence-receive
	sshd     *exec.Cmd
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// receiverBinary builds helpers/receive once per test process.
func receiverBinary(t *testing.T) string {
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "impermanence-receive-")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(buildDir, "impermanence-receive"), "../../helpers/receive").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build helpers/receive: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "impermanence-receive")
}

// TestMain removes the built receiver.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

var docsLine = regexp.MustCompile(`(?m)^restrict,command="impermanence-receive --root /srv/backup/web1" ssh-ed25519 AAAA… root@web1$`)

// forcedCommand returns docs/replication.md's authorized_keys line for
// root, receiver and the public key pub.
func forcedCommand(t *testing.T, root, receiver, pub string) string {
	doc, err := os.ReadFile("../../docs/replication.md")
	if err != nil {
		t.Fatal(err)
	}
	line := docsLine.FindString(string(doc))
	if line == "" {
		t.Fatalf("docs/replication.md has no line matching %s: the test uses it as the authorized_keys line", docsLine)
	}
	line = strings.Replace(line, "impermanence-receive --root /srv/backup/web1", receiver+" --root "+root, 1)
	return strings.Replace(line, "ssh-ed25519 AAAA… root@web1", strings.TrimSpace(pub), 1)
}

func newBackupHost(t *testing.T, root string) *backupHost {
	t.Helper()
	for _, tool := range []string{"/usr/sbin/sshd", "ssh", "ssh-keygen", "unshare", "nsenter", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the SSH target tests need %s (Debian: openssh-server, openssh-client, util-linux, iproute2): %v", tool, err)
		}
	}
	h := &backupHost{dir: t.TempDir(), root: root, receiver: receiverBinary(t)}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	h.key = filepath.Join(h.dir, "client")
	hostKey := filepath.Join(h.dir, "host")
	for _, k := range []string{h.key, hostKey} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", k).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, _ := os.ReadFile(h.key + ".pub")
	hostPub, _ := os.ReadFile(hostKey + ".pub")
	write := func(name, data string) string {
		p := filepath.Join(h.dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keys := write("authorized_keys", forcedCommand(t, root, h.receiver, string(pub))+"\n")
	cfg := write("sshd_config", strings.Join([]string{
		"ListenAddress 127.0.0.1", "Port 22", "HostKey " + hostKey, "PidFile none",
		"AuthorizedKeysFile " + keys, "StrictModes no", "PermitRootLogin prohibit-password",
		"PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
		"AuthenticationMethods publickey", "LogLevel ERROR", "MaxStartups 100", "MaxSessions 100",
	}, "\n")+"\n")
	knownHosts := write("known_hosts", "127.0.0.1 "+string(hostPub))
	clientCfg := write("ssh_config", strings.Join([]string{
		"Host *", "  UserKnownHostsFile " + knownHosts, "  GlobalKnownHostsFile /dev/null",
		"  StrictHostKeyChecking yes", "  LogLevel ERROR",
	}, "\n")+"\n")
	// sshd needs its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	h.sshd = exec.Command("unshare", "-n", "sh", "-c", `ip link set lo up && exec /usr/sbin/sshd -D -e -f "$0"`, cfg)
	// A test that times out dies without its cleanups: sshd goes with it.
	h.sshd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, _ := h.sshd.StderrPipe()
	if err := h.sshd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.sshd.Process.Signal(syscall.SIGTERM)
		h.sshd.Wait()
	})
	wrapper := filepath.Join(h.dir, "bin")
	os.Mkdir(wrapper, 0o755)
	ssh, _ := exec.LookPath("ssh")
	script := fmt.Sprintf("#!/bin/sh\nexec nsenter --net=/proc/%d/ns/net %s -F %s \"$@\"\n", h.sshd.Process.Pid, ssh, clientCfg)
	if err := os.WriteFile(filepath.Join(wrapper, "ssh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", wrapper+":"+os.Getenv("PATH"))
	// Ready when sshd listens (it logs nothing else at LogLevel ERROR):
	// try a list until it answers.
	var log jobtest.SyncBuffer
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.Write([]byte(sc.Text() + "\n"))
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sshd's messages:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		cmd := h.ssh("list @persist")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err == nil && strings.HasSuffix(string(out), "end 0\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not answer within 10 s: %v, %q\n%s", err, out, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return h
}

// ssh returns the client's ssh command making the raw request req.
func (h *backupHost) ssh(req string) *exec.Cmd {
	return exec.Command("ssh", "-T", "-o", "BatchMode=yes", "-i", h.key, "-o", "IdentitiesOnly=yes", "root@127.0.0.1", req)
}

// url is the [[target]] url of the root.
func (h *backupHost) url() string { return "ssh://root@127.0.0.1:22" + h.root }
