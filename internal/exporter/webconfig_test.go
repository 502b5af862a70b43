package exporter

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// webFixture writes a certificate for 127.0.0.1 made by the real openssl
// and a web configuration (exporter-toolkit's format, node_exporter's
// --web.config.file) with TLS and the basic-auth user prometheus whose
// password is "s3cret", as a bcrypt hash. It returns the configuration's
// path and the certificate's.
func webFixture(t *testing.T, withTLS bool) (webCfg, cert string) {
	t.Helper()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cmd := exec.Command(tool(t, "openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
		"-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=impermanence-exporter test",
		"-addext", "subjectAltName=IP:127.0.0.1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if withTLS {
		// Relative paths are relative to the configuration file.
		b.WriteString("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n")
	}
	fmt.Fprintf(&b, "basic_auth_users:\n  prometheus: %s\n", hash)
	webCfg = filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return webCfg, cert
}

// trusting returns an HTTPS client trusting only the certificate cert.
func trusting(t *testing.T, cert string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in " + cert)
	}
	return &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// TestWebConfigTLSAndBasicAuth: with --web.config.file the exporter speaks
// TLS with the configured certificate and refuses a scrape without the
// right credentials.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	webCfg, cert := webFixture(t, true)
	addr, stop := startExporterWith(t, Limits{}, units{}, "--web.config.file", webCfg)
	defer stop()
	client := trusting(t, cert)
	for _, tc := range []struct {
		name, user, pass string
		want             int
	}{
		{"no credentials", "", "", 401},
		{"wrong password", "prometheus", "guess", 401},
		{"unknown user", "admin", "s3cret", 401},
		{"right credentials", "prometheus", "s3cret", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "https://"+addr+"/metrics", nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("GET /metrics = %d, want %d", resp.StatusCode, tc.want)
			}
			if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 || resp.TLS.PeerCertificates[0].Subject.CommonName != "impermanence-exporter test" {
				t.Errorf("served without the configured certificate: %+v", resp.TLS)
			}
			switch tc.want {
			case 401:
				if got := resp.Header.Get("WWW-Authenticate"); got != "Basic" {
					t.Errorf("WWW-Authenticate = %q, want Basic", got)
				}
				if bytes.Contains(body, []byte("impermanence_")) {
					t.Errorf("refused request got metrics:\n%.200s", body)
				}
			case 200:
				if !bytes.Contains(body, []byte(`impermanence_snapshots{kind="timeline",subvolume="@persist"} 4`)) {
					t.Errorf("metrics lack the snapshot count:\n%.300s", body)
				}
			}
		})
	}
	// Plain HTTP to the TLS port is refused; so is a client that does not
	// trust the certificate.
	if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || bytes.Contains(body, []byte("impermanence_")) {
			t.Errorf("plain HTTP to the TLS port = %d %q, want 400", resp.StatusCode, body)
		}
	}
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get("https://" + addr + "/metrics"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("HTTPS without trusting the certificate: %v, want a certificate error", err)
	}
}

// TestWebConfigBasicAuthOnly: basic auth without TLS (behind a TLS proxy).
func TestWebConfigBasicAuthOnly(t *testing.T) {
	webCfg, _ := webFixture(t, false)
	addr, stop := startExporterWith(t, Limits{}, units{}, "--web.config.file", webCfg)
	defer stop()
	if code, _ := get(t, "http://"+addr+"/metrics"); code != 401 {
		t.Errorf("GET /metrics without credentials = %d, want 401", code)
	}
	if code, body := get(t, "http://prometheus:s3cret@"+addr+"/metrics"); code != 200 || !strings.Contains(body, "impermanence_build_info") {
		t.Errorf("GET /metrics with credentials = %d %.200q, want 200 and the metrics", code, body)
	}
}

// TestWebConfigInvalid: a web configuration that does not load fails the
// start (exit 1, naming the file), before anything listens.
func TestWebConfigInvalid(t *testing.T) {
	_, cfg := fixture(t)
	dir := t.TempDir()
	for _, tc := range []struct{ name, content, want string }{
		{"missing certificate", "tls_server_config:\n  cert_file: nope.pem\n  key_file: nope.key\n", "nope.pem"},
		{"unknown key", "tls_server_confg: {}\n", "tls_server_confg"},
		{"missing file", "", "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yml")
			if tc.content != "" {
				os.WriteFile(p, []byte(tc.content), 0o600)
			}
			var stderr bytes.Buffer
			code := Run([]string{"--config", cfg, "--no-systemd", "--listen", "127.0.0.1:0", "--web.config.file", p},
				Deps{Stdout: io.Discard, Stderr: &stderr, Root: "/", Now: time.Now,
					Ready: func(string) { t.Error("listening with an invalid web configuration") }})
			if code != 1 || !strings.Contains(stderr.String(), "web configuration "+p) || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 naming %s and %q", code, stderr.String(), p, tc.want)
			}
		})
	}
}

// TestPrometheusScrapesTLS: the real Prometheus scrapes the exporter over
// TLS with basic auth.
func TestPrometheusScrapesTLS(t *testing.T) {
	webCfg, cert := webFixture(t, true)
	addr, stop := startExporterWith(t, Limits{}, units{}, "--web.config.file", webCfg)
	defer stop()
	prometheusScrapes(t, addr, fmt.Sprintf(`    scheme: https
    tls_config:
      ca_file: %s
    basic_auth:
      username: prometheus
      password: s3cret
`, cert))
}

// TestWebListenAddress: node_exporter's --web.listen-address is --listen.
func TestWebListenAddress(t *testing.T) {
	root, cfg := fixture(t)
	port := freePort(t)
	ready := make(chan string, 1)
	sigs := make(chan os.Signal, 1)
	done := make(chan int, 1)
	go func() {
		done <- Run([]string{"--config", cfg, "--no-systemd", fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port)},
			Deps{Stdout: io.Discard, Stderr: io.Discard, Root: root, Now: time.Now, Ready: func(a string) { ready <- a }, Signals: sigs})
	}()
	select {
	case a := <-ready:
		if want := fmt.Sprintf("127.0.0.1:%d", port); a != want {
			t.Errorf("listening on %s, want %s", a, want)
		}
	case code := <-done:
		t.Fatalf("exited %d", code)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after 10s")
	}
	sigs <- os.Interrupt
	<-done
}
