package exporter

import (
	"os"
	"os/exec"
	"regexp"
	"testing"
)

// TestAlertRules runs promtool check rules and promtool test rules on
// exporter/alerts/, and checks that every rule has a runbook in docs/alerts.md
// and at least one firing test case.
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool")
	const dir = "../../exporter/alerts"
	for _, args := range [][]string{{"check", "rules", "impermanence.rules.yml"}, {"test", "rules", "impermanence.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
	rules, _ := os.ReadFile(dir + "/impermanence.rules.yml")
	tests, _ := os.ReadFile(dir + "/impermanence.test.yml")
	docs, _ := os.ReadFile("../../docs/alerts.md")
	names := regexp.MustCompile(`(?m)^\s+- alert: (\w+)$`).FindAllSubmatch(rules, -1)
	if len(names) < 12 {
		t.Fatalf("found %d alert rules, want at least 12", len(names))
	}
	for _, m := range names {
		name := string(m[1])
		if !regexp.MustCompile(`(?s)alertname: ` + name + `\s+exp_alerts:\s+- exp_labels`).Match(tests) {
			t.Errorf("rule %s has no firing test case", name)
		}
		if !regexp.MustCompile(`(?m)^## ` + name + `$`).Match(docs) {
			t.Errorf("rule %s has no runbook section in docs/alerts.md", name)
		}
	}
}
