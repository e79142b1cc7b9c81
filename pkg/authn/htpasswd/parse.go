package htpasswd

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// maxCost is the highest bcrypt cost accepted. Each step doubles the work;
// at 16 one login already takes seconds, and the dummy hash for unknown users
// is made at the file's highest cost when the file is loaded.
const maxCost = 16

// bcryptAlphabet is the base64 alphabet of bcrypt salts and hashes.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// ParseError is one rejected line of an htpasswd file. It never holds the
// hash or anything else that followed the user name.
type ParseError struct {
	Path   string
	Line   int    // 1-based
	User   string // empty when the line has no user name
	Reason string
}

func (e *ParseError) Error() string {
	if e.User == "" {
		return fmt.Sprintf("htpasswd: %s:%d: %s", e.Path, e.Line, e.Reason)
	}
	return fmt.Sprintf("htpasswd: %s:%d: user %q: %s", e.Path, e.Line, e.User, e.Reason)
}

// line is one line of an htpasswd file as read: a user's entry, or, when
// User is empty, a blank or comment line kept as written.
type line struct {
	Entry
	text string // the line without its line ending
}

// parse reads htpasswd content. It returns the users' hashes and the highest
// cost among them, or every rejected line joined into one error.
func parse(path string, data []byte) (users map[string][]byte, highest int, err error) {
	lines, highest, err := parseLines(path, data)
	if err != nil {
		return nil, 0, err
	}
	users = make(map[string][]byte, len(lines))
	for _, l := range lines {
		if l.User != "" {
			users[l.User] = []byte(l.Hash)
		}
	}
	return users, highest, nil
}

// parseLines reads htpasswd content into its lines, in order, and the
// highest cost among the users, or every rejected line joined into one error.
// A final line ending does not start another (empty) line.
func parseLines(path string, data []byte) (lines []line, highest int, err error) {
	firstLine := make(map[string]int)
	var errs []error
	for i, text := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		text = strings.TrimSuffix(text, "\r")
		if skip(text) {
			if i > 0 || len(data) > 0 {
				lines = append(lines, line{text: text})
			}
			continue
		}
		user, hash, cost, reason := parseLine(text, firstLine)
		if user != "" && firstLine[user] == 0 {
			firstLine[user] = i + 1
		}
		if reason != "" {
			errs = append(errs, &ParseError{Path: path, Line: i + 1, User: user, Reason: reason})
			continue
		}
		lines = append(lines, line{Entry: Entry{User: user, Hash: hash}, text: text})
		highest = max(highest, cost)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, 0, err
	}
	return lines, highest, nil
}

// skip reports blank lines and # comments.
func skip(line string) bool {
	trimmed := strings.TrimSpace(line)
	return trimmed == "" || strings.HasPrefix(trimmed, "#")
}

// parseLine splits "user:hash" and checks both halves. reason is empty when
// the line is good.
func parseLine(line string, firstLine map[string]int) (user, hash string, cost int, reason string) {
	user, hash, ok := strings.Cut(line, ":")
	if !ok {
		return "", "", 0, "malformed line: want user:hash"
	}
	if user == "" {
		return "", "", 0, "empty user name"
	}
	if first := firstLine[user]; first != 0 {
		return user, "", 0, fmt.Sprintf("duplicate user, first defined on line %d", first)
	}
	hash = strings.TrimRight(hash, " \t")
	cost, reason = checkHash(hash)
	return user, hash, cost, reason
}

// checkHash accepts a well-formed bcrypt hash and names what it got otherwise.
// The reason never includes the hash.
func checkHash(hash string) (cost int, reason string) {
	const hint = ": only bcrypt is supported (htpasswd -B)"
	switch {
	case strings.HasPrefix(hash, "$apr1$"):
		return 0, "MD5 ($apr1$) hash" + hint
	case strings.HasPrefix(hash, "{SHA}"):
		return 0, "SHA-1 ({SHA}) hash" + hint
	case strings.HasPrefix(hash, "$1$"), strings.HasPrefix(hash, "$5$"), strings.HasPrefix(hash, "$6$"):
		return 0, "crypt(3) hash" + hint
	case !hasBcryptPrefix(hash):
		return 0, "not a bcrypt hash (crypt or plain text?)" + hint
	}
	return checkBcrypt(hash)
}

func hasBcryptPrefix(hash string) bool {
	return strings.HasPrefix(hash, "$2y$") || strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$")
}

// checkBcrypt checks the shape "$2y$NN$" + 53 base64 characters and the cost.
func checkBcrypt(hash string) (cost int, reason string) {
	if len(hash) != 60 || hash[6] != '$' || strings.Trim(hash[7:], bcryptAlphabet) != "" {
		return 0, "malformed bcrypt hash"
	}
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return 0, "malformed bcrypt hash (bad cost)"
	}
	if cost > maxCost {
		return 0, fmt.Sprintf("bcrypt cost %d is above the maximum of %d", cost, maxCost)
	}
	return cost, ""
}
