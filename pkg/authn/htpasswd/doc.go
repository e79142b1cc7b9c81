// Package htpasswd authenticates users against an Apache htpasswd file of
// bcrypt hashes, as written by `htpasswd -B` (cost 5 unless -C says
// otherwise).
//
// Only bcrypt ($2y$, $2a$, $2b$) is accepted: MD5 ($apr1$), SHA-1 ({SHA}),
// crypt(3) and plain-text lines are rejected when the file is loaded, with
// the file, line and user named and the hash never shown. Unknown users pay
// one bcrypt comparison against a dummy hash as costly as the file's costliest
// one, so timing does not tell which users exist (the idea of distribution's
// registry/auth/htpasswd).
//
// The file can be reloaded while in use (Reload, or Watch for changes on
// disk). Readers never take a lock: each load publishes an immutable snapshot
// through an atomic pointer, and a reload that fails keeps the previous one.
//
// Update changes the file for `tollgate users`: under an exclusive lock, it
// keeps comments and the order of the other users, and replaces the file
// atomically (temporary file, fsync, rename, fsync of the directory), so a
// watching server reloads a complete file.
package htpasswd
