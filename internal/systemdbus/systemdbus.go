// Package systemdbus reads unit properties from systemd over D-Bus (go-systemd
// dbus on godbus), for the exporter's job health metrics. It connects lazily
// and reconnects after an error, so an exporter started before dbus.service,
// or one that outlives a bus restart, recovers on the next scrape.
package systemdbus

import (
	"context"
	"fmt"
	"sync"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// Client is a metrics.UnitSource over a systemd manager.
type Client struct {
	dial func(ctx context.Context) (*sddbus.Conn, error)

	mu   sync.Mutex
	conn *sddbus.Conn
}

// New returns a client of the system's systemd: the system bus, or as root
// systemd's private socket when the bus is not up yet.
func New() *Client {
	return &Client{dial: sddbus.NewWithContext}
}

// NewAddress returns a client of the systemd reachable on the bus at address
// (tests: a private dbus-daemon).
func NewAddress(address string) *Client {
	return &Client{dial: func(ctx context.Context) (*sddbus.Conn, error) {
		return sddbus.NewConnection(func() (*dbus.Conn, error) {
			c, err := dbus.Connect(address, dbus.WithContext(ctx))
			if err != nil {
				return nil, err
			}
			return c, nil
		})
	}}
}

// Properties returns the properties of iface ("Unit", "Service", "Timer") of
// unit.
func (c *Client) Properties(ctx context.Context, unit, iface string) (map[string]any, error) {
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	var p map[string]any
	if iface == "Unit" {
		p, err = conn.GetUnitPropertiesContext(ctx, unit)
	} else {
		p, err = conn.GetUnitTypePropertiesContext(ctx, unit, iface)
	}
	if err != nil {
		c.reset(conn)
		return nil, fmt.Errorf("properties %s of %s: %w", iface, unit, err)
	}
	return p, nil
}

func (c *Client) connect(ctx context.Context) (*sddbus.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil && c.conn.Connected() {
		return c.conn, nil
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to systemd: %w", err)
	}
	c.conn = conn
	return conn, nil
}

// reset drops conn after an error so the next call reconnects; a missing
// unit interface is an error too but leaves a healthy connection, which
// Connected() then keeps.
func (c *Client) reset(conn *sddbus.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == conn && !conn.Connected() {
		conn.Close()
		c.conn = nil
	}
}

// Close closes the connection.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}
