package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate/tollgate/keys"
	"github.com/tollgate/tollgate/pkg/config"
)

// devUser is the account `serve --init-dev` creates.
const devUser = "admin"

// ensureDevFiles creates what a first development run needs and says so
// loudly: a signing key (+ self-signed certificate) and an htpasswd file
// with one user whose password is written next to it, never logged.
func ensureDevFiles(cfg *config.Config, logger *slog.Logger) error {
	if err := ensureDevKey(cfg.Keys, logger); err != nil {
		return err
	}
	return ensureDevUser(cfg.Users.Htpasswd, logger)
}

func ensureDevKey(c config.Keys, logger *slog.Logger) error {
	if c.Ring.Enabled {
		return ensureDevRingSecret(c.Ring.SecretFile, logger)
	}
	if exists(c.PrivateKey) {
		return nil
	}
	key, err := keys.WriteDev(c.PrivateKey, c.Certificate, keys.Options{Algorithm: c.Algorithm, KidFormat: c.KidFormat})
	if err != nil {
		return fmt.Errorf("create development key: %w", err)
	}
	logger.Warn("DEVELOPMENT SIGNING KEY CREATED: do not use it in production",
		"private_key", c.PrivateKey, "certificate", c.Certificate, "kid", key.ID(), "algorithm", key.Algorithm())
	return nil
}

// ensureDevRingSecret creates the key-encryption secret of the key ring
// (the ring itself is created in the store at first start).
func ensureDevRingSecret(path string, logger *slog.Logger) error {
	if exists(path) {
		return nil
	}
	if _, err := keys.WriteDev(path, "", keys.Options{Algorithm: "HS256"}); err != nil {
		return fmt.Errorf("create development key-ring secret: %w", err)
	}
	logger.Warn("DEVELOPMENT KEY-RING SECRET CREATED: keep it secret and back it up; without it the stored ring cannot be opened",
		"secret_file", path)
	return nil
}

func ensureDevUser(path string, logger *slog.Logger) error {
	if exists(path) {
		return nil
	}
	password, err := randomPassword()
	if err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	passwordFile := path + ".dev-password"
	if err := os.WriteFile(passwordFile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(devUser+":"+string(hash)+"\n"), 0o600); err != nil {
		return err
	}
	logger.Warn("DEVELOPMENT USER CREATED: do not use it in production",
		"user", devUser, "htpasswd", path, "password_file", passwordFile)
	return nil
}

func randomPassword() (string, error) {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
