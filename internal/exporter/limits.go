package exporter

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits bound what HTTP clients can hold of the exporter: how long a
// connection may take to send its request, to read the response or to sit
// idle between requests, how many connections are open at once, how many
// scrapes run at once and how large a request's header may be. A Prometheus
// server scraping on loopback or a LAN needs a fraction of each.
type Limits struct {
	// ReadHeaderTimeout is the time from accepting a connection (or the
	// end of the previous request) to the end of the request header: a
	// client trickling its header (slowloris) is cut off then.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading the whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its header to the end
	// of its response: a scrape and a client reading it slowly.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no new request.
	IdleTimeout time.Duration
	// MaxConns is the number of connections served at once; further
	// connections wait in the kernel's accept queue until one closes.
	MaxConns int
	// MaxInFlight is the number of /metrics requests collected at once;
	// one more is answered 503 Service Unavailable at once.
	MaxInFlight int
	// MaxHeaderBytes bounds the request line and header; a larger one is
	// answered 431 Request Header Fields Too Large.
	MaxHeaderBytes int
}

// DefaultLimits are the exporter's limits (docs/security.md lists them).
var DefaultLimits = Limits{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       10 * time.Second,
	WriteTimeout:      30 * time.Second,
	IdleTimeout:       60 * time.Second,
	MaxConns:          64,
	MaxInFlight:       4,
	MaxHeaderBytes:    8 << 10,
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	set := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	set(&l.ReadHeaderTimeout, d.ReadHeaderTimeout)
	set(&l.ReadTimeout, d.ReadTimeout)
	set(&l.WriteTimeout, d.WriteTimeout)
	set(&l.IdleTimeout, d.IdleTimeout)
	if l.MaxConns == 0 {
		l.MaxConns = d.MaxConns
	}
	if l.MaxInFlight == 0 {
		l.MaxInFlight = d.MaxInFlight
	}
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	return l
}

// server returns the HTTP server of handler with the limits' timeouts.
func (l Limits) server(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}

// limitListener accepts at most n connections at once: Accept waits for a
// served connection to close before it takes the next from the queue.
type limitListener struct {
	net.Listener
	sem  chan struct{}
	done chan struct{}
	once sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back once, on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
