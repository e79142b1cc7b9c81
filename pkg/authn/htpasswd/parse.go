package htpasswd

import (
	"crypto/sha256"
	"encoding/hex"
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
	cost int    // of the bcrypt hash; 0 on a blank or comment line
	text string // the line without its line ending
}

// user is one loaded user: the bcrypt hash and its epoch.
type user struct {
	hash  []byte
	epoch string
}

// parsed is htpasswd content as the loader takes it: the users of the good
// lines, the names on rejected lines, every rejected line as a *ParseError,
// the users skipped for a name the ACL cannot take, and the most common
// cost.
type parsed struct {
	users    map[string]user
	rejected map[string]bool
	problems []error
	skipped  []string
	cost     int // 0 when there are no users
}

// parse reads htpasswd content, keeping every good line: a rejected line
// costs only its own user (reported in problems, named in rejected).
func parse(path string, data []byte) parsed {
	lines, problems := scanLines(path, data)
	p := parsed{users: make(map[string]user, len(lines)), rejected: make(map[string]bool), problems: problems}
	costs := make(map[int]int)
	for _, l := range lines {
		switch {
		case l.User == "":
		case SafeName(l.User) != nil:
			p.skipped = append(p.skipped, l.User)
		default:
			// A clone: the name is a substring of the whole file, which it would keep alive.
			p.users[strings.Clone(l.User)] = user{hash: []byte(l.Hash), epoch: EpochOf(l.Hash)}
			costs[l.cost]++
		}
	}
	for _, e := range problems {
		if pe, ok := e.(*ParseError); ok && pe.User != "" {
			p.rejected[pe.User] = true
		}
	}
	p.cost = mostCommon(costs)
	return p
}

// mostCommon returns the cost most users have (the higher one on a tie), or
// 0 for none. Unknown users are compared at it: as long as the typical
// login, without multiplying the work for a file with one slow hash.
func mostCommon(costs map[int]int) int {
	best, n := 0, 0
	for cost, count := range costs {
		if count > n || (count == n && cost > best) {
			best, n = cost, count
		}
	}
	return best
}

// EpochOf names the version of a password: the first 64 bits of SHA-256
// over its bcrypt hash, in hex. The hash holds a random salt, so a new
// password (or the same one set again) gets a new epoch, and the epoch
// tells nothing about the password.
func EpochOf(hash string) string {
	sum := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(sum[:8])
}

// parseLines reads htpasswd content into its lines, in order, or every
// rejected line joined into one error. A final line ending does not start
// another (empty) line.
func parseLines(path string, data []byte) ([]line, error) {
	lines, problems := scanLines(path, data)
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return lines, nil
}

// scanLines reads htpasswd content into its good lines, in order, and a
// *ParseError for each rejected one.
func scanLines(path string, data []byte) (lines []line, problems []error) {
	firstLine := make(map[string]int)
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
			problems = append(problems, &ParseError{Path: path, Line: i + 1, User: user, Reason: reason})
			continue
		}
		lines = append(lines, line{Entry: Entry{User: user, Hash: hash}, cost: cost, text: text})
	}
	return lines, problems
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
