package ldap

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// pool is a bounded set of connections: at most size open at once, idle
// ones kept for the next request. A connection that failed is closed, not
// kept.
type pool struct {
	dial func() (*ldap.Conn, error)
	idle chan *ldap.Conn
	sem  chan struct{}
}

func newPool(size int, dial func() (*ldap.Conn, error)) *pool {
	return &pool{dial: dial, idle: make(chan *ldap.Conn, size), sem: make(chan struct{}, size)}
}

// get returns a connection, idle or new; it waits for a free slot at most
// until ctx ends. fresh reports a new one.
func (p *pool) get(ctx context.Context) (c *ldap.Conn, fresh bool, err error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, false, fmt.Errorf("%w: no free directory connection: %w", errDown, ctx.Err())
	}
	for {
		select {
		case c := <-p.idle:
			if c.IsClosing() {
				c.Close()
				continue
			}
			return c, false, nil
		default:
		}
		c, err := p.dial()
		if err != nil {
			<-p.sem
			return nil, false, err
		}
		return c, true, nil
	}
}

// put gives c back: kept when healthy, else closed.
func (p *pool) put(c *ldap.Conn, healthy bool) {
	if healthy && !c.IsClosing() {
		select {
		case p.idle <- c:
		default:
			c.Close()
		}
	} else {
		c.Close()
	}
	<-p.sem
}

// close closes the idle connections.
func (p *pool) close() {
	for {
		select {
		case c := <-p.idle:
			c.Close()
		default:
			return
		}
	}
}

// dialer opens connections to the directory: TLS from the start
// (ldaps://) or after StartTLS, every request bounded by timeout.
type dialer struct {
	url      string
	startTLS bool
	tls      *tls.Config
	timeout  time.Duration
}

func (d dialer) dial() (*ldap.Conn, error) {
	nd := &net.Dialer{Timeout: d.timeout}
	c, err := ldap.DialURL(d.url, ldap.DialWithDialer(nd), ldap.DialWithTLSConfig(d.tls))
	if err != nil {
		return nil, fmt.Errorf("%w: dial %s: %w", errDown, d.url, err)
	}
	c.SetTimeout(d.timeout)
	if d.startTLS {
		if err := c.StartTLS(d.tls); err != nil {
			c.Close()
			return nil, fmt.Errorf("%w: StartTLS with %s: %w", errDown, d.url, err)
		}
	}
	return c, nil
}
