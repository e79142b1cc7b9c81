package server

import (
	"net/http"
	"strconv"
	"sync"
)

// Header values set on every token response, made once (net/http keeps
// a header's values as a slice; these are never appended to in place).
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

// responseBuffers are the buffers token responses are written from.
var responseBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// writeTokenResponse writes the GET token response with one Write and no
// reflection: its fields are a JWT (base64url and dots), a refresh token
// (a prefix and base64url), an RFC 3339 time and a number, none of which
// JSON escapes, so they are copied as they are. appendJSON's test holds
// it to encoding/json's output.
func writeTokenResponse(w http.ResponseWriter, t tokenResponse) {
	h := w.Header()
	h["Content-Type"], h["Cache-Control"] = jsonContentType, noStore
	bp := responseBuffers.Get().(*[]byte)
	b := t.appendJSON((*bp)[:0])
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	*bp = b
	responseBuffers.Put(bp)
}

// appendJSON appends t as encoding/json writes it (with its newline), for
// values that need no escaping (tokens, RFC 3339 times).
func (t tokenResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"token":"`...)
	b = append(b, t.Token...)
	b = append(b, `","access_token":"`...)
	b = append(b, t.AccessToken...)
	b = append(b, `","expires_in":`...)
	b = strconv.AppendInt(b, t.ExpiresIn, 10)
	b = append(b, `,"issued_at":"`...)
	b = append(b, t.IssuedAt...)
	b = append(b, '"')
	if t.RefreshToken != "" {
		b = append(b, `,"refresh_token":"`...)
		b = append(b, t.RefreshToken...)
		b = append(b, '"')
	}
	return append(b, "}\n"...)
}
