package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/config"
	"github.com/tollgate/tollgate/pkg/store"
)

// keyTypes maps `keys generate --type` to the JWT algorithm.
var keyTypes = map[string]string{"ec": "ES256", "rsa": "RS256", "ed25519": "EdDSA", "hmac": "HS256"}

func newKeysCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage signing keys and the key ring"}
	cmd.AddCommand(newKeysGenerateCommand(),
		ringCommand("list", "List the keys: kid, type, state, created, activates, expires", printKeyList),
		ringCommand("jwks", "Print the JWKS a registry's jwks: file needs (pre-published keys included)", printJWKS),
		ringCommand("ca", "Print the CA bundle for a registry's rootcertbundle", printCA),
		newKeysRotateCommand())
	return cmd
}

func newKeysGenerateCommand() *cobra.Command {
	var kind, out, cert string
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write a new private key file (mode 0600) and, optionally, a self-signed certificate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			alg, ok := keyTypes[kind]
			if !ok {
				return fmt.Errorf("--type %q: want ec, rsa, ed25519 or hmac", kind)
			}
			if alg == "HS256" && cert != "" {
				return errors.New("--certificate: HMAC keys have no certificate")
			}
			k, err := keys.WriteDev(out, cert, keys.Options{Algorithm: alg})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s, kid %s)\n", out, k.Algorithm(), k.ID())
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "type", "ec", "ec (ES256), rsa (RS256), ed25519 (EdDSA) or hmac (HS256; also a keys.ring.secret_file)")
	cmd.Flags().StringVar(&out, "out", "", "private key file to create (it must not exist)")
	cmd.Flags().StringVar(&cert, "certificate", "", "also write a self-signed certificate here")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func newKeysRotateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate",
		Short: "Publish a new key now; it signs after keys.ring.prepublish",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(operatorConfigPath(cmd))
			if err != nil {
				return err
			}
			if !cfg.Keys.Ring.Enabled {
				return errors.New("keys.ring.enabled is false: a static key is rotated by replacing keys.private_key and restarting")
			}
			st, err := openStore(cmd.Context(), cfg.Store)
			if err != nil {
				return err
			}
			defer st.Close()
			syncer, err := newSyncer(cfg, st, nil)
			if err != nil {
				return err
			}
			if err := syncer.Rotate(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rotated; servers pick it up within keys.ring.sync_every (%s) or at once on SIGHUP\n",
				cfg.Keys.Ring.SyncEvery)
			return printKeyList(cmd.OutOrStdout(), syncer.Holder.Load())
		},
	}
}

// ringCommand is a read-only command over the current ring.
func ringCommand(use, short string, print func(io.Writer, *keys.Ring) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ring, err := readRing(cmd.Context(), operatorConfigPath(cmd))
			if err != nil {
				return err
			}
			return print(cmd.OutOrStdout(), ring)
		},
	}
}

// readRing loads the ring without changing it: the stored ring, or the
// static key as a one-key ring.
func readRing(ctx context.Context, path string) (*keys.Ring, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	return loadRing(ctx, cfg)
}

// loadRing is readRing for a loaded configuration.
func loadRing(ctx context.Context, cfg *config.Config) (*keys.Ring, error) {
	if !cfg.Keys.Ring.Enabled {
		key, err := loadKey(cfg.Keys, discardLogger())
		if err != nil {
			return nil, err
		}
		return keys.NewRingWithKey(key, time.Now(), nil)
	}
	st, err := openStore(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	syncer, err := newSyncer(cfg, st, nil)
	if err != nil {
		return nil, err
	}
	rec, err := st.KeyRing(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errors.New("no key ring stored yet: start the server once, or run tollgate keys rotate")
	}
	if err != nil {
		return nil, err
	}
	return keys.Unmarshal(rec.Data, syncer.Sealer)
}

func printKeyList(w io.Writer, r *keys.Ring) error {
	fmt.Fprintf(w, "%-44s %-6s %-8s %-20s %-20s %s\n", "KID", "TYPE", "STATE", "CREATED", "ACTIVATES", "EXPIRES")
	for _, e := range r.Entries() {
		fmt.Fprintf(w, "%-44s %-6s %-8s %-20s %-20s %s\n", e.Key.ID(), e.Key.Algorithm(), e.State,
			stamp(e.CreatedAt), stamp(e.ActivatesAt), stamp(e.DropAt))
	}
	return nil
}

func printJWKS(w io.Writer, r *keys.Ring) error {
	_, err := fmt.Fprintf(w, "%s\n", r.JWKS())
	return err
}

func printCA(w io.Writer, r *keys.Ring) error {
	if ca := r.CA(); ca != nil {
		_, err := w.Write(ca.BundlePEM())
		return err
	}
	chain := r.Active().Chain()
	if len(chain) == 0 {
		return errors.New("no certificate: enable keys.ring.ca, or set keys.certificate for a static key")
	}
	return writeCertificates(w, chain)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
