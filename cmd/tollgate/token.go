package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/verify"
)

// maxInspectToken bounds a token read from stdin.
const maxInspectToken = 1 << 20

var errTokenInvalid = errors.New("token is not valid")

func newTokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Work with the tokens Tollgate mints",
	}
	inspect := &cobra.Command{
		Use:   "inspect TOKEN",
		Short: "Print a token's header and claims and verify it against the configured signing key",
		Long: `Decode TOKEN ("-" reads it from stdin), print its header and claims as JSON,
then verify it with pkg/verify against keys.private_key of --config and
token.issuer, accepting whatever audience the token names. Prints
"signature: valid" or "signature: INVALID (reason)" and the expiry status;
exits 1 unless the token is valid now.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := readToken(cmd.InOrStdin(), args[0])
			if err != nil {
				return err
			}
			cfg, err := loadConfig(operatorConfigPath(cmd))
			if err != nil {
				return err
			}
			ring, err := loadRing(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return inspectToken(cmd.OutOrStdout(), cfg, ring, raw, time.Now())
		},
	}
	cmd.AddCommand(inspect)
	return cmd
}

// readToken returns arg, or the token on stdin when arg is "-".
func readToken(stdin io.Reader, arg string) (string, error) {
	if arg != "-" {
		return strings.TrimSpace(arg), nil
	}
	data, err := io.ReadAll(io.LimitReader(stdin, maxInspectToken+1))
	if err != nil {
		return "", fmt.Errorf("read token from stdin: %w", err)
	}
	if len(data) > maxInspectToken {
		return "", fmt.Errorf("read token from stdin: longer than %d bytes", maxInspectToken)
	}
	raw := strings.TrimSpace(string(data))
	if raw == "" {
		return "", errors.New("read token from stdin: empty")
	}
	return raw, nil
}

// inspectToken prints raw's header and claims, verifies it with the
// configured key and prints the outcome.
func inspectToken(out io.Writer, cfg *config.Config, ring *keys.Ring, raw string, now time.Time) error {
	// 1. Decode and print, before any verification.
	header, claims, err := decodeToken(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", errTokenInvalid, err)
	}
	fmt.Fprintf(out, "header:\n%s\nclaims:\n%s\n", header, claims)

	// 2. Verify against the local signing keys (the static key, or every
	// key of the ring: pending, active and retired).
	opts := verify.Options{
		Issuer:      cfg.Token.Issuer,
		AnyAudience: true, // inspection: whichever service the token is for
		Now:         func() time.Time { return now },
	}
	if secret, ok := ring.Active().VerificationKey().([]byte); ok {
		opts.HMACSecret = secret
	} else {
		opts.PublicKeys = map[string]crypto.PublicKey{}
		for _, e := range ring.Entries() {
			if pub := e.Key.Public(); pub != nil {
				opts.PublicKeys[e.Key.ID()] = pub
			}
		}
	}
	v, err := verify.New(opts)
	if err != nil {
		return err
	}
	_, verr := v.Verify(context.Background(), raw)

	// 3. Report. Claims are checked only after the signature, so these
	// errors mean the signature is good.
	signatureOK := verr == nil || errors.Is(verr, verify.ErrExpired) || errors.Is(verr, verify.ErrNotYetValid) || errors.Is(verr, verify.ErrIssuer)
	if signatureOK {
		fmt.Fprintf(out, "signature: valid (kid %s)\n", kidOfHeader(header))
	} else {
		fmt.Fprintf(out, "signature: INVALID (%s)\n", strings.TrimPrefix(verr.Error(), "verify: "))
	}
	if errors.Is(verr, verify.ErrIssuer) {
		fmt.Fprintf(out, "issuer: WRONG (%s)\n", strings.TrimPrefix(verr.Error(), "verify: "))
	}
	fmt.Fprintf(out, "expiry: %s\n", expiryStatus(claims, now))
	if verr != nil {
		return fmt.Errorf("%w: %w", errTokenInvalid, verr)
	}
	return nil
}

// decodeToken returns the header and claims of a compact JWS as indented
// JSON, without verifying anything.
func decodeToken(raw string) (header, claims []byte, err error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("%w: %d parts, want 3", verify.ErrMalformed, len(parts))
	}
	if header, err = decodeSegment("header", parts[0]); err != nil {
		return nil, nil, err
	}
	if claims, err = decodeSegment("claims", parts[1]); err != nil {
		return nil, nil, err
	}
	return header, claims, nil
}

func decodeSegment(name, seg string) ([]byte, error) {
	data, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not base64url", verify.ErrMalformed, name)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, data, "", "  "); err != nil {
		return nil, fmt.Errorf("%w: %s: not JSON", verify.ErrMalformed, name)
	}
	return pretty.Bytes(), nil
}

// expiryStatus describes exp and nbf of the claims JSON at now.
func expiryStatus(claims []byte, now time.Time) string {
	var c struct {
		Exp *json.Number `json:"exp"`
		Nbf *json.Number `json:"nbf"`
	}
	dec := json.NewDecoder(bytes.NewReader(claims))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	at := func(n *json.Number) (time.Time, bool) {
		f, err := n.Float64()
		if err != nil {
			return time.Time{}, false
		}
		return time.Unix(int64(f), 0).UTC(), true
	}
	if c.Nbf != nil {
		if nbf, ok := at(c.Nbf); ok && nbf.After(now) {
			return fmt.Sprintf("NOT YET VALID until %s (in %s)", nbf.Format(time.RFC3339), nbf.Sub(now).Round(time.Second))
		}
	}
	if c.Exp == nil {
		return "NONE (no exp claim)"
	}
	exp, ok := at(c.Exp)
	if !ok {
		return fmt.Sprintf("unknown (exp %q is not a number)", c.Exp.String())
	}
	if !now.Before(exp) {
		ago := now.Sub(exp).Round(time.Second)
		if ago < verify.DefaultLeeway {
			return fmt.Sprintf("expired at %s (%s ago; still accepted within the %s leeway)", exp.Format(time.RFC3339), ago, verify.DefaultLeeway)
		}
		return fmt.Sprintf("EXPIRED at %s (%s ago)", exp.Format(time.RFC3339), ago)
	}
	return fmt.Sprintf("valid until %s (%s left)", exp.Format(time.RFC3339), exp.Sub(now).Round(time.Second))
}

// kidOfHeader reads kid from a decoded JWT header ("" if absent).
func kidOfHeader(header []byte) string {
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(header, &h)
	return h.Kid
}
