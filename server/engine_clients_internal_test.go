package server

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/pkg/authn/client"
)

// TestConfidentialClient: RFC 6749 §2.3.1 Basic (form-encoded) or form
// credentials, one method only.
func TestConfidentialClient(t *testing.T) {
	for _, tc := range []struct {
		name               string
		basicID, basicPass string
		form               url.Values
		wantID, wantSecret string
		wantErr            error
	}{
		{name: "basic", basicID: "svc", basicPass: "s3cret", wantID: "svc", wantSecret: "s3cret"},
		{name: "basic form-encoded", basicID: "svc", basicPass: url.QueryEscape("a+b/c%d"), wantID: "svc", wantSecret: "a+b/c%d"},
		{name: "basic not decodable", basicID: "svc", basicPass: "100%", wantID: "svc", wantSecret: "100%"},
		{name: "form", form: url.Values{"client_id": {"svc"}, "client_secret": {"s3cret"}}, wantID: "svc", wantSecret: "s3cret"},
		{name: "basic and same client_id", basicID: "svc", basicPass: "s", form: url.Values{"client_id": {"svc"}}, wantID: "svc", wantSecret: "s"},
		{name: "basic and form secret", basicID: "svc", basicPass: "s", form: url.Values{"client_secret": {"s"}}, wantErr: errTwoClientAuth},
		{name: "basic and other client_id", basicID: "svc", basicPass: "s", form: url.Values{"client_id": {"other"}}, wantErr: errTwoClientAuth},
		{name: "nothing", wantErr: errNoClientAuth},
		{name: "no secret", form: url.Values{"client_id": {"svc"}}, wantErr: errNoClientAuth},
		{name: "control character", form: url.Values{"client_id": {"s\x01"}, "client_secret": {"x"}}, wantErr: client.ErrInvalidID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/oauth/token", strings.NewReader(""))
			if tc.basicID != "" {
				r.SetBasicAuth(tc.basicID, tc.basicPass)
			}
			r.Form = tc.form
			if r.Form == nil {
				r.Form = url.Values{}
			}
			id, secret, err := confidentialClient(r)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || id != tc.wantID || secret != tc.wantSecret {
				t.Errorf("got %q %q %v, want %q %q", id, secret, err, tc.wantID, tc.wantSecret)
			}
		})
	}
}
