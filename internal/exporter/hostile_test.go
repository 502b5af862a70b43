package exporter

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The exporter under hostile HTTP clients, over real loopback sockets:
// idle keep-alive connections, a trickled header, many connections, more
// scrapes at once than allowed and an oversized header.

// dial opens a raw connection to addr.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads from c until the server closes it and returns how long
// that took, failing the test when it is still open after max.
func closedWithin(t *testing.T, c net.Conn, max time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(max))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", max)
	}
	return time.Since(start)
}

const getRoot = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

// TestIdleConnectionClosed: a keep-alive connection with no further
// request is closed after IdleTimeout (it stayed open forever).
func TestIdleConnectionClosed(t *testing.T) {
	addr, stop := startExporterWith(t, Limits{IdleTimeout: 300 * time.Millisecond}, units{})
	defer stop()
	c := dial(t, addr)
	if _, err := io.WriteString(c, getRoot); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("GET / = %d (close %v), want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	if d := closedWithin(t, c, 5*time.Second); d < 200*time.Millisecond {
		t.Errorf("idle connection closed after %v, want about 300ms", d)
	}
}

// TestSlowloris: a client sending its header a byte at a time is cut off
// at ReadHeaderTimeout, however steadily it trickles.
func TestSlowloris(t *testing.T) {
	addr, stop := startExporterWith(t, Limits{ReadHeaderTimeout: 500 * time.Millisecond}, units{})
	defer stop()
	c := dial(t, addr)
	start := time.Now()
	req := "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 200)
	var werr error
	for i := 0; i < len(req) && werr == nil; i++ {
		_, werr = c.Write([]byte{req[i]})
		time.Sleep(20 * time.Millisecond)
		if time.Since(start) > 3*time.Second {
			break
		}
	}
	// The server closed it; the client finds out by a failed write or on
	// reading.
	if werr == nil {
		closedWithin(t, c, 2*time.Second)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("trickled header held the connection %v, want about 500ms", d)
	}
}

// blockingUnits blocks every call until release is closed; each call
// first reports on entered (a call that enters is never missed, however
// late the test reads: the report waits for the reader or the release).
type blockingUnits struct {
	entered chan struct{}
	release chan struct{}
}

func (b blockingUnits) Properties(ctx context.Context, unit, iface string) (map[string]any, error) {
	select {
	case b.entered <- struct{}{}:
	case <-b.release:
	}
	<-b.release
	return units{}.Properties(ctx, unit, iface)
}

// TestMaxInFlight: with MaxInFlight scrapes collecting, one more is
// answered 503 at once; those in flight complete.
func TestMaxInFlight(t *testing.T) {
	b := blockingUnits{entered: make(chan struct{}), release: make(chan struct{})}
	addr, stop := startExporterWith(t, Limits{MaxInFlight: 2}, b)
	defer stop()
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Go(func() {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	for range 2 {
		select {
		case <-b.entered:
		case <-time.After(5 * time.Second):
			t.Fatal("two scrapes did not start collecting")
		}
	}
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("third scrape: %v (want 503 at once)", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("third scrape = %d, want 503", resp.StatusCode)
	}
	close(b.release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("scrape in flight = %d, want 200", c)
		}
	}
}

// TestHeaderTooLarge: a request header over MaxHeaderBytes is refused
// with 431 (1 MB was accepted).
func TestHeaderTooLarge(t *testing.T) {
	addr, stop := startExporter(t)
	defer stop()
	for _, tc := range []struct {
		size int
		want int
	}{{1 << 10, 200}, {64 << 10, 431}} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Header.Set("X-Big", strings.Repeat("a", tc.size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET / with a %d-byte header = %d, want %d", tc.size, resp.StatusCode, tc.want)
		}
	}
}

// TestMaxConns: with MaxConns connections open and silent, the next
// client waits; once one closes it is served.
func TestMaxConns(t *testing.T) {
	addr, stop := startExporterWith(t, Limits{MaxConns: 4, ReadHeaderTimeout: time.Minute}, units{})
	defer stop()
	held := make([]net.Conn, 4)
	for i := range held {
		held[i] = dial(t, addr)
	}
	next := dial(t, addr) // the kernel completes the handshake: it waits in the accept queue
	if _, err := io.WriteString(next, getRoot); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(next)
	next.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := br.Peek(1); err == nil {
		t.Fatal("a fifth connection was served while four were held, want it queued")
	}
	held[0].Close()
	next.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("queued connection after one closed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("queued connection = %d, want 200", resp.StatusCode)
	}
	for _, c := range held {
		c.Close()
	}
}

// procStatus returns the number of open descriptors and the resident
// memory (kB) of process pid.
func procStatus(t *testing.T, pid int) (fds, rssKB int) {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			rssKB, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return len(ents), rssKB
}

// TestManyClientsBinary: the real binary with its default limits under
// 1,000 connections that each send a request and then stay idle: it holds
// at most MaxConns of them (each held descriptors and memory before), and
// still serves a scrape once they are gone.
func TestManyClientsBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	bin := buildExporter(t)
	_, cfg := fixture(t)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--config", cfg, "--no-systemd", "--listen", addr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitGet(t, "http://"+addr+"/", 10*time.Second)
	fds0, rss0 := procStatus(t, cmd.Process.Pid)
	const clients = 1000
	conns := make([]net.Conn, clients)
	for i := range conns {
		conns[i] = dial(t, addr)
		io.WriteString(conns[i], getRoot)
	}
	time.Sleep(time.Second) // let the exporter accept what it will
	fds, rss := procStatus(t, cmd.Process.Pid)
	t.Logf("%d idle clients: exporter fds %d → %d, VmRSS %d → %d kB", clients, fds0, fds, rss0, rss)
	if held := fds - fds0; held > DefaultLimits.MaxConns {
		t.Errorf("exporter holds %d more descriptors with %d clients, want at most MaxConns = %d", held, clients, DefaultLimits.MaxConns)
	}
	for _, c := range conns {
		c.Close()
	}
	waitGet(t, "http://"+addr+"/metrics", 10*time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, stderr.String())
	}
}

// TestLimitsDocumented: docs/security.md's table of limits gives
// DefaultLimits' values.
func TestLimitsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	secs := func(d time.Duration) string { return fmt.Sprintf("%d s", int(d.Seconds())) }
	l := DefaultLimits
	for _, row := range []struct{ what, value string }{
		{"request header, from accept (or the previous response) to its end", secs(l.ReadHeaderTimeout)},
		{"whole request", secs(l.ReadTimeout)},
		{"from the end of the header to the end of the response", secs(l.WriteTimeout)},
		{"idle keep-alive connection", secs(l.IdleTimeout)},
		{"connections served at once", strconv.Itoa(l.MaxConns)},
		{"scrapes collected at once", strconv.Itoa(l.MaxInFlight)},
		{"request line and header", fmt.Sprintf("%d KiB", l.MaxHeaderBytes>>10)},
	} {
		if want := "| " + row.what + " | " + row.value + " |"; !bytes.Contains(doc, []byte(want)) {
			t.Errorf("docs/security.md lacks the row %q", want)
		}
	}
}
