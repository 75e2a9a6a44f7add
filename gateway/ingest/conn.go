package ingest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

const (
	// readBuffer is how many bytes of the broker's stream a connection
	// reads at a time.
	readBuffer = 64 << 10
	// maxWriteBehind is how many bytes may wait to be written before
	// Write waits for the connection.
	maxWriteBehind = 256 << 10
	// closeFlushTimeout bounds how long Close tries to write what waits.
	closeFlushTimeout = time.Second
)

// OpenConnection opens a connection to an MQTT broker for paho
// (ClientOptions.SetCustomOpenConnectionFn): TCP, with TLS for ssl://
// URLs, reads buffered and writes coalesced. paho reads each packet's
// fixed header a byte at a time and writes each packet with a write of
// its own; on a bare TCP connection each is a system call, and a gateway
// reads a packet for every message of every device and writes a PUBACK
// and an ack for each. Buffered, a system call carries many packets while
// the gateway is busy, and one packet as soon as it is not.
func OpenConnection(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{Timeout: o.ConnectTimeout}
	}
	var (
		conn net.Conn
		err  error
	)
	switch uri.Scheme {
	case "tcp", "mqtt":
		conn, err = d.Dial("tcp", uri.Host)
	case "ssl", "mqtts":
		conn, err = tls.DialWithDialer(d, "tcp", uri.Host, o.TLSConfig)
	default:
		return nil, fmt.Errorf("dial %s: scheme %q: want tcp, ssl, mqtt or mqtts", uri.Redacted(), uri.Scheme)
	}
	if err != nil {
		return nil, err
	}
	return newBufferedConn(conn), nil
}

// bufferedConn is a connection whose reads go through a buffer and whose
// writes are coalesced: Write appends to a buffer that a goroutine of the
// connection's writes out, in one write for all that came meanwhile.
// Write returns once its bytes are buffered; an error of the connection
// is returned by the Writes after it. Close writes out what waits first,
// for at most closeFlushTimeout.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader

	mu      sync.Mutex
	cond    *sync.Cond // signals buf, err and closing changes
	buf     []byte     // waiting to be written
	spare   []byte     // the flusher's last buffer, for reuse
	err     error      // of the last write; sticky
	closing bool
	flushed chan struct{} // closed when the flusher has ended
	once    sync.Once
}

func newBufferedConn(conn net.Conn) *bufferedConn {
	c := &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, readBuffer), flushed: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	go c.flush()
	return c
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write buffers p, waiting while more than maxWriteBehind bytes wait.
func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.buf) >= maxWriteBehind && c.err == nil && !c.closing {
		c.cond.Wait()
	}
	switch {
	case c.err != nil:
		return 0, c.err
	case c.closing:
		return 0, net.ErrClosed
	}
	c.buf = append(c.buf, p...)
	c.cond.Broadcast()
	return len(p), nil
}

// flush writes out what Write buffers until the connection closes or a
// write fails.
func (c *bufferedConn) flush() {
	defer close(c.flushed)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.buf) == 0 && !c.closing {
			c.cond.Wait()
		}
		if len(c.buf) == 0 {
			return // closing, all written
		}
		b := c.buf
		c.buf = c.spare[:0]
		c.mu.Unlock()
		_, err := c.Conn.Write(b)
		c.mu.Lock()
		c.spare = b
		if err != nil {
			c.err = err
			c.buf = nil
			c.cond.Broadcast()
			return
		}
		c.cond.Broadcast()
	}
}

// Close writes out what waits, for at most closeFlushTimeout, and closes
// the connection.
func (c *bufferedConn) Close() error {
	var err error
	c.once.Do(func() {
		c.mu.Lock()
		c.closing = true
		c.cond.Broadcast()
		c.mu.Unlock()
		// A write that cannot finish (the broker is gone, or does not
		// read) ends at the deadline; on a closed connection there is
		// nothing to set and nothing to write.
		_ = c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
		<-c.flushed
		err = c.Conn.Close()
	})
	return err
}
