package ldaptest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// anonymousBind is an LDAPv3 BindRequest, message 1, with an empty name
// and an empty simple password (RFC 4511 §4.2), in BER.
var anonymousBind = []byte{
	0x30, 0x0c, // LDAPMessage SEQUENCE
	0x02, 0x01, 0x01, // messageID 1
	0x60, 0x07, // [APPLICATION 0] BindRequest
	0x02, 0x01, 0x03, // version 3
	0x04, 0x00, // name ""
	0x80, 0x00, // [0] simple ""
}

// probe binds anonymously to the server at addr and reports an error
// unless it answers with a BindResponse of success (RFC 4511 §4.2.2): the
// sign that slapd serves its database, not only that it listens.
func probe(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	if _, err := c.Write(anonymousBind); err != nil {
		return err
	}
	var msg []byte
	buf := make([]byte, 256)
	for {
		n, err := c.Read(buf)
		msg = append(msg, buf[:n]...)
		if code, ok := bindResult(msg); ok {
			if code != 0 {
				return fmt.Errorf("anonymous bind: result code %d", code)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if len(msg) > 4096 {
			return errors.New("anonymous bind: no BindResponse")
		}
	}
}

// bindResult reads the resultCode of a complete LDAPMessage holding a
// BindResponse; ok is false until msg is complete.
func bindResult(msg []byte) (code int, ok bool) {
	tag, body, _, ok := tlv(msg)
	if !ok || tag != 0x30 {
		return 0, false
	}
	if tag, _, body, ok = tlv(body); !ok || tag != 0x02 { // messageID
		return 0, false
	}
	if tag, body, _, ok = tlv(body); !ok || tag != 0x61 { // [APPLICATION 1] BindResponse
		return 0, false
	}
	if tag, body, _, ok = tlv(body); !ok || tag != 0x0a || len(body) != 1 { // resultCode ENUMERATED
		return 0, false
	}
	return int(body[0]), true
}

// tlv splits one BER element (single-byte tag, definite length) off b.
func tlv(b []byte) (tag byte, value, rest []byte, ok bool) {
	if len(b) < 2 {
		return 0, nil, nil, false
	}
	tag, n, b := b[0], int(b[1]), b[2:]
	if n&0x80 != 0 { // long form: the next n&0x7f bytes are the length
		k := n & 0x7f
		if k == 0 || k > 4 || len(b) < k {
			return 0, nil, nil, false
		}
		n = 0
		for _, d := range b[:k] {
			n = n<<8 | int(d)
		}
		b = b[k:]
	}
	if len(b) < n {
		return 0, nil, nil, false
	}
	return tag, b[:n], b[n:], true
}

// probeTLS completes a TLS handshake with the ldaps:// listener at addr,
// verifying its certificate against ca, and closes the connection.
func probeTLS(addr string, ca *x509.CertPool) error {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second},
		Config: &tls.Config{RootCAs: ca, ServerName: "127.0.0.1"}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}
