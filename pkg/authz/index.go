package authz

import (
	"slices"
	"strings"
)

// ruleIndex offers, for a resource name, the rules whose name pattern could
// match it, so that a request tests a handful of rules however long the ACL.
//
// glob.match matches the tokens before a pattern's first star at the start
// of the name, so a pattern that starts with literal text L matches only
// names that start with L, and one that starts with ${account} and then L
// only names that start with the account and then L (and never anonymous
// requests, which compiledRule.matches refuses through glob.usable). The
// index buckets the rules by that L at Compile; patterns starting with a
// glob character or a label fall under L = "", which starts every name.
// Each rule is in exactly one bucket.
type ruleIndex struct {
	literal prefixIndex // by the literal text the pattern starts with
	account prefixIndex // patterns starting with ${account}, by the literal text after it
}

// prefixIndex buckets rule indices by a prefix of the names they can match.
type prefixIndex struct {
	lengths []keyLength      // the distinct lengths of the keys of buckets, ascending
	buckets map[string][]int // prefix → rule indices, ascending
}

// keyLength is one length of the keys of a prefixIndex and the set of bytes
// those keys end in. Prefixes mostly end in a separator ("team-7/"), so the
// set spares the hash lookups of most lengths that cannot hit.
type keyLength struct {
	n    int
	last [4]uint64 // bit b: some key of length n ends in byte b
}

// endsIn reports whether some key of this length may end in b.
func (l *keyLength) endsIn(b byte) bool { return l.last[b/64]&(1<<(b%64)) != 0 }

// maxStackBuckets is how many buckets a request may draw from before
// candidate lookup allocates: one per distinct prefix length that starts
// the name, in both indexes.
const maxStackBuckets = 8

// newRuleIndex buckets the compiled rules, in rule order.
func newRuleIndex(compiled []compiledRule) ruleIndex {
	var x ruleIndex
	for i := range compiled {
		afterAccount, prefix := compiled[i].name.namePrefix()
		if afterAccount {
			x.account.add(prefix, i)
		} else {
			x.literal.add(prefix, i)
		}
	}
	return x
}

// namePrefix returns the literal text every name the pattern matches starts
// with, and whether that text comes after the requesting account (the
// pattern starts with ${account}). It is "" when the pattern starts with a
// glob character or a label, or is empty.
func (g *glob) namePrefix() (afterAccount bool, prefix string) {
	toks := g.tokens
	if len(toks) > 0 && toks[0].kind == tokAccount {
		afterAccount, toks = true, toks[1:]
	}
	if len(toks) > 0 && toks[0].kind == tokLiteral {
		prefix = toks[0].text
	}
	return afterAccount, prefix
}

// add puts rule in the bucket of prefix; rules must come in ascending order.
func (x *prefixIndex) add(prefix string, rule int) {
	if x.buckets == nil {
		x.buckets = make(map[string][]int)
	}
	i, found := slices.BinarySearchFunc(x.lengths, len(prefix), func(l keyLength, n int) int { return l.n - n })
	if !found {
		x.lengths = slices.Insert(x.lengths, i, keyLength{n: len(prefix)})
	}
	if prefix != "" {
		b := prefix[len(prefix)-1]
		x.lengths[i].last[b/64] |= 1 << (b % 64)
	}
	x.buckets[prefix] = append(x.buckets[prefix], rule)
}

// appendBuckets appends to dst the buckets whose prefix starts name.
func (x *prefixIndex) appendBuckets(dst [][]int, name string) [][]int {
	for k := range x.lengths {
		l := &x.lengths[k]
		switch {
		case l.n > len(name):
			return dst
		case l.n > 0 && !l.endsIn(name[l.n-1]):
			continue
		}
		if b, ok := x.buckets[name[:l.n]]; ok {
			dst = append(dst, b)
		}
	}
	return dst
}

// candidates returns, in rule order, every rule whose name pattern could
// match name for account; buf is room for the buckets they come from.
func (x *ruleIndex) candidates(buf [][]int, account, name string) candidates {
	buf = x.literal.appendBuckets(buf, name)
	if account != "" && strings.HasPrefix(name, account) {
		buf = x.account.appendBuckets(buf, name[len(account):])
	}
	return candidates{buckets: buf}
}

// candidates merges buckets, ascending lists of distinct rule indices, into
// one ascending sequence.
type candidates struct{ buckets [][]int }

// next returns the smallest rule index left, or -1 when none is.
func (c *candidates) next() int {
	best := -1
	for k, b := range c.buckets {
		if len(b) > 0 && (best < 0 || b[0] < c.buckets[best][0]) {
			best = k
		}
	}
	if best < 0 {
		return -1
	}
	i := c.buckets[best][0]
	c.buckets[best] = c.buckets[best][1:]
	return i
}
