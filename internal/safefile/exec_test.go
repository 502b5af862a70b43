package safefile

import (
	"os"
	"os/exec"
	"testing"
)

// execSelf returns a command running this test binary's test name alone,
// with env added.
func execSelf(t *testing.T, name string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}
