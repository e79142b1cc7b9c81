package ldaptest

import (
	"bytes"
	"crypto/tls"
	"strings"
	"testing"
	"time"
)

// bindRequest encodes a simple BindRequest (RFC 4511 §4.2) with short
// BER lengths: enough for the names and passwords of these tests.
func bindRequest(id byte, dn, password string) []byte {
	elem := func(tag byte, v []byte) []byte { return append([]byte{tag, byte(len(v))}, v...) }
	op := elem(0x60, bytes.Join([][]byte{{0x02, 0x01, 0x03}, elem(0x04, []byte(dn)), elem(0x80, []byte(password))}, nil))
	return elem(0x30, append([]byte{0x02, 0x01, id}, op...))
}

func TestBindResult(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		code int
		ok   bool
	}{
		{"success", []byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00}, 0, true},
		{"long-form lengths", []byte{0x30, 0x84, 0, 0, 0, 0x10, 0x02, 0x01, 0x01, 0x61, 0x84, 0, 0, 0, 0x07, 0x0a, 0x01, 0x31, 0x04, 0x00, 0x04, 0x00}, 49, true},
		{"truncated", []byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a}, 0, false},
		{"not a BindResponse", []byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x65, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00}, 0, false},
		{"empty", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, ok := bindResult(tt.msg)
			if code != tt.code || ok != tt.ok {
				t.Errorf("bindResult = %d, %v; want %d, %v", code, ok, tt.code, tt.ok)
			}
		})
	}
	if got := bindRequest(1, "", ""); !bytes.Equal(got, anonymousBind) {
		t.Errorf("bindRequest(1, \"\", \"\") = % x, want anonymousBind % x", got, anonymousBind)
	}
}

// A backend binds as the service account, then as the user on the same
// connection, then as the service account again: the access controls let
// every bind through, because slapd checks a bind as from anonymous.
func TestRebindOnOneConnection(t *testing.T) {
	t.Parallel()
	s := Start(t)
	c, err := tls.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(s.LDAPSURL(), "/"), "ldaps://"),
		&tls.Config{RootCAs: s.CAPool(), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		dn, password string
		code         int
	}{
		{BindDN, BindPassword, 0},
		{UserDN("eve"), Passwords["eve"], 0},
		{UserDN("alice"), "wrong", 49},
		{UserDN("alice"), Passwords["alice"], 0},
		{BindDN, BindPassword, 0},
	}
	buf := make([]byte, 256)
	for i, st := range steps {
		if _, err := c.Write(bindRequest(byte(i+1), st.dn, st.password)); err != nil {
			t.Fatal(err)
		}
		var msg []byte
		for {
			n, err := c.Read(buf)
			msg = append(msg, buf[:n]...)
			if code, ok := bindResult(msg); ok {
				if code != st.code {
					t.Errorf("bind %d as %s: result %d, want %d", i+1, st.dn, code, st.code)
				}
				break
			}
			if err != nil {
				t.Fatalf("bind %d as %s: %v", i+1, st.dn, err)
			}
		}
	}
}
