package config

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-viper/mapstructure/v2"

	"github.com/tollgate/tollgate/pkg/authn"
)

// TestEnvPrefix starts the variables reserved for tests, such as
// TOLLGATE_TEST_POSTGRES_DSN: Load ignores them.
const TestEnvPrefix = EnvPrefix + "_TEST_"

// key is one configuration key that a variable can set: a leaf of the
// Config struct (a section, a struct of keys, is not a key itself).
type key struct {
	name   string       // as written in the file: "api_tokens.max_ttl_days_by_role"
	index  []int        // the field's path from the root struct, for FieldByIndex
	typ    reflect.Type // the field's type
	secret bool         // holds an authn.Secret: its value is never shown
}

// schema is the keys of a struct type, found by reflection over its
// mapstructure tags, and the variables that name them.
type schema struct {
	keys  []key
	byVar map[string][]int // variable → indexes into keys; two or more when names collide
}

// configSchema is the schema of Config, built once.
var configSchema = sync.OnceValue(func() *schema { return newSchema(reflect.TypeFor[Config]()) })

// KeyNames lists every key of Config, in the order of the struct: what a
// TOLLGATE_* variable can set.
func KeyNames() []string {
	s := configSchema()
	names := make([]string, len(s.keys))
	for i, k := range s.keys {
		names[i] = k.name
	}
	return names
}

// EnvVar is the variable that overrides key: TOLLGATE_ + the key path in
// upper case with _ for ".", so server.tls.cert is TOLLGATE_SERVER_TLS_CERT.
func EnvVar(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func newSchema(t reflect.Type) *schema {
	s := &schema{keys: collectKeys(t, "", nil, nil), byVar: map[string][]int{}}
	for i, k := range s.keys {
		v := EnvVar(k.name)
		s.byVar[v] = append(s.byVar[v], i)
	}
	return s
}

// collectKeys appends the keys of struct type t under prefix. A struct
// field is a section whose fields are keys in turn, unless it reads itself
// from text (encoding.TextUnmarshaler); anything else is a key.
func collectKeys(t reflect.Type, prefix string, index []int, out []key) []key {
	for i := range t.NumField() {
		f := t.Field(i)
		name, squash := fieldName(f)
		if !f.IsExported() || name == "-" {
			continue
		}
		idx := append(slices.Clone(index), i)
		switch {
		case squash && f.Type.Kind() == reflect.Struct:
			out = collectKeys(f.Type, prefix, idx, out)
		case isSection(f.Type):
			out = collectKeys(f.Type, joinKey(prefix, name), idx, out)
		default:
			out = append(out, key{name: joinKey(prefix, name), index: idx, typ: f.Type, secret: holdsSecret(f.Type, nil)})
		}
	}
	return out
}

// fieldName is the key of a struct field as mapstructure decodes it: its
// tag's name, or the field name in lower case (matching is case-blind).
func fieldName(f reflect.StructField) (name string, squash bool) {
	name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
	squash = slices.Contains(strings.Split(opts, ","), "squash")
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, squash
}

func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

var (
	secretType    = reflect.TypeFor[authn.Secret]()
	durationType  = reflect.TypeFor[time.Duration]()
	jsonNumber    = reflect.TypeFor[json.Number]()
	textUnmarshal = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(textUnmarshal)
}

// holdsSecret reports whether t is or contains an authn.Secret.
func holdsSecret(t reflect.Type, seen []reflect.Type) bool {
	if t == secretType {
		return true
	}
	if slices.Contains(seen, t) {
		return false
	}
	seen = append(seen, t)
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsSecret(t.Elem(), seen)
	case reflect.Map:
		return holdsSecret(t.Key(), seen) || holdsSecret(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsSecret(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

// applyEnv sets on dst (a pointer to the struct of s) every variable of
// environ ("NAME=value") that starts with TOLLGATE_, except the test
// variables (TestEnvPrefix). It reports every variable that cannot apply,
// each naming the variable, never the value of a secret key.
func (s *schema) applyEnv(dst any, environ []string) error {
	root := reflect.ValueOf(dst).Elem()
	var p problems
	for _, kv := range slices.Sorted(slices.Values(environ)) {
		name, raw, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix+"_") || strings.HasPrefix(name, TestEnvPrefix) {
			continue
		}
		k, err := s.lookup(name)
		if err == nil {
			err = k.set(root, raw)
		}
		if err != nil {
			p.add("%s: %v", name, err)
		}
	}
	return p.err()
}

// lookup finds the key a variable names. Underscores are resolved against
// the known keys: TOLLGATE_API_TOKENS_MAX_TTL_DAYS_BY_ROLE can only be
// api_tokens.max_ttl_days_by_role.
func (s *schema) lookup(name string) (key, error) {
	switch idx := s.byVar[name]; len(idx) {
	case 1:
		return s.keys[idx[0]], nil
	case 0:
		return key{}, s.unknown(name)
	default:
		names := make([]string, len(idx))
		for i, j := range idx {
			names[i] = s.keys[j].name
		}
		return key{}, fmt.Errorf("ambiguous: names the keys %s; set them in the file", strings.Join(names, " and "))
	}
}

// unknown explains a variable that names no key. Its value is not shown:
// it may be a secret under a misspelt name.
func (s *schema) unknown(name string) error {
	for _, k := range s.keys {
		if v := EnvVar(k.name); strings.HasPrefix(name, v+"_") && takesJSON(k.typ) {
			return fmt.Errorf("names no configuration key; %s takes the whole of %s as JSON", v, k.name)
		}
	}
	return errors.New("names no configuration key (variables starting with " + TestEnvPrefix + " are for tests)")
}

// set parses raw as the key's type and stores it in root's field.
func (k key) set(root reflect.Value, raw string) error {
	v, err := parseValue(k.typ, raw, k.name)
	if err != nil {
		if k.secret {
			return fmt.Errorf("cannot be used for %s (the value of a secret key is not shown)", k.name)
		}
		return err
	}
	root.FieldByIndex(k.index).Set(v)
	return nil
}

// takesJSON reports whether a variable of type t is written as JSON.
func takesJSON(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarshal) {
		return false
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.Struct, reflect.Interface:
		return true
	case reflect.Pointer:
		return takesJSON(t.Elem())
	}
	return false
}

// durationHint shows what a duration looks like.
const durationHint = "for example 90s, 5m or 1h30m"

// parseValue converts a variable's value to t, for the key at. Strings
// take it as it is, empty too; numbers, booleans and durations must parse;
// lists and maps are JSON, and empty means an empty list or map.
func parseValue(t reflect.Type, raw, at string) (reflect.Value, error) {
	switch {
	case reflect.PointerTo(t).Implements(textUnmarshal):
		return parseText(t, raw)
	case t == durationType:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return reflect.Value{}, notA(raw, "a duration ("+durationHint+")")
		}
		return reflect.ValueOf(d), nil
	case takesJSON(t):
		return parseJSON(t, raw, at)
	case t.Kind() == reflect.Pointer:
		v, err := parseValue(t.Elem(), raw, at)
		if err != nil {
			return reflect.Value{}, err
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(v)
		return p, nil
	}
	return parseScalar(t, raw)
}

func parseScalar(t reflect.Type, raw string) (reflect.Value, error) {
	v := reflect.New(t).Elem()
	switch t.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return v, notA(raw, "a boolean (true or false)")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, t.Bits())
		if err != nil {
			return v, notA(raw, "an integer"+rangeNote(err))
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(raw, 10, t.Bits())
		if err != nil {
			return v, notA(raw, "a non-negative integer"+rangeNote(err))
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(raw, t.Bits())
		if err != nil {
			return v, notA(raw, "a number"+rangeNote(err))
		}
		v.SetFloat(f)
	default:
		return v, fmt.Errorf("a %s cannot be set from the environment", t)
	}
	return v, nil
}

func parseText(t reflect.Type, raw string) (reflect.Value, error) {
	p := reflect.New(t)
	if err := p.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(raw)); err != nil {
		return reflect.Value{}, fmt.Errorf("%s: %v", quote(raw), err)
	}
	return p.Elem(), nil
}

// notA is the error for a value that is not what the key takes; an empty
// value says so rather than quoting "".
func notA(raw, what string) error {
	if raw == "" {
		return fmt.Errorf("empty; want %s", what)
	}
	return fmt.Errorf("%s is not %s", quote(raw), what)
}

func rangeNote(err error) string {
	if errors.Is(err, strconv.ErrRange) {
		return " in range"
	}
	return ""
}

// quote quotes a value for an error, cut short when long.
func quote(raw string) string {
	const max = 60
	if len(raw) > max {
		return strconv.Quote(raw[:max]) + "…"
	}
	return strconv.Quote(raw)
}

// parseJSON decodes a JSON list or object into t, strictly: keys that t
// does not have and values of the wrong type are errors, each naming its
// place under the key at ("acl[1].repo"). Empty is an empty list or map.
func parseJSON(t reflect.Type, raw, at string) (reflect.Value, error) {
	want := jsonShape(t)
	if raw == "" {
		switch t.Kind() {
		case reflect.Slice:
			return reflect.MakeSlice(t, 0, 0), nil
		case reflect.Map:
			return reflect.MakeMap(t), nil
		}
		return reflect.Value{}, fmt.Errorf("empty; want %s", want)
	}
	doc, err := decodeJSON(raw)
	if err != nil {
		return reflect.Value{}, fmt.Errorf("not JSON (want %s): %v", want, err)
	}
	if !shapeFits(t, doc) {
		return reflect.Value{}, fmt.Errorf("want %s, got %s", want, jsonKind(doc))
	}
	out := reflect.New(t)
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		ErrorUnused: true,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			rejectNumberAsText,
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.TextUnmarshallerHookFunc(),
		),
		Result: out.Interface(),
	})
	if err != nil {
		return reflect.Value{}, err
	}
	if err := dec.Decode(doc); err != nil {
		return reflect.Value{}, errors.New(strings.Join(decodeProblems(at, err), "; "))
	}
	return out.Elem(), nil
}

// decodeJSON reads exactly one JSON value, keeping numbers exact.
func decodeJSON(raw string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one JSON value")
	}
	return doc, nil
}

func jsonShape(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return `a JSON list, for example ["a","b"]`
	case reflect.Map, reflect.Struct:
		return `a JSON object, for example {"name":"value"}`
	}
	return "a JSON value"
}

func shapeFits(t reflect.Type, doc any) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch doc.(type) {
	case []any:
		return t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Interface
	case map[string]any:
		return t.Kind() == reflect.Map || t.Kind() == reflect.Struct || t.Kind() == reflect.Interface
	}
	return t.Kind() == reflect.Interface
}

// jsonKind names the JSON type of a decoded value.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// rejectNumberAsText refuses a JSON number where text is wanted (a string,
// or a duration, which would otherwise be read as nanoseconds).
func rejectNumberAsText(from, to reflect.Type, data any) (any, error) {
	if from != jsonNumber {
		return data, nil
	}
	switch {
	case to == durationType:
		return nil, errors.New(`want a duration string such as "90s", got a number`)
	case to.Kind() == reflect.String && to != jsonNumber:
		return nil, errors.New("want a string, got a number")
	}
	return data, nil
}

// decodeProblems turns mapstructure's errors into one message per problem,
// each naming its place under the key at: "acl[1].repo",
// "api_tokens.max_ttl_days_by_role.admin".
func decodeProblems(at string, err error) []string {
	var de *mapstructure.DecodeError
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		var out []string
		for _, inner := range e.Unwrap() {
			out = append(out, decodeProblems(at, inner)...)
		}
		return out
	case *mapstructure.DecodeError:
		de = e
	default:
		if inner := errors.Unwrap(err); inner != nil {
			return decodeProblems(at, inner) // "decoding failed due to the following error(s)"
		}
		return []string{err.Error()}
	}
	where := placeIn(at, de.Name())
	inner := de.Unwrap()
	if rest, ok := strings.CutPrefix(inner.Error(), "has invalid keys: "); ok {
		var out []string
		for _, k := range strings.Split(rest, ", ") {
			out = append(out, fmt.Sprintf("unknown key %q", where+"."+k))
		}
		return out
	}
	var ut *mapstructure.UnconvertibleTypeError
	var pe *mapstructure.ParseError
	switch {
	case errors.As(inner, &ut):
		return []string{fmt.Sprintf("%s: want %s, got %s", where, ut.Expected.Type(), jsonKind(ut.Value))}
	case errors.As(inner, &pe):
		return []string{fmt.Sprintf("%s: want %s, got %v", where, pe.Expected.Type(), pe.Value)}
	}
	if got, ok := strings.CutPrefix(inner.Error(), "source data must be an array or slice, got "); ok {
		return []string{fmt.Sprintf("%s: want a list, got %s", where, got)}
	}
	return []string{fmt.Sprintf("%s: %v", where, inner)}
}

// placeIn names a position that mapstructure calls name ("[1].repo",
// "[admin]", "" for the value itself) under the key at, the way Validate
// names keys: list elements by index, map entries by key (acl[1].repo,
// api_tokens.max_ttl_days_by_role.admin).
func placeIn(at, name string) string {
	var b strings.Builder
	b.WriteString(at)
	for name != "" {
		open := strings.IndexByte(name, '[')
		if open < 0 {
			writeSegment(&b, name)
			break
		}
		writeSegment(&b, name[:open])
		end := strings.IndexByte(name[open:], ']')
		if end < 0 {
			b.WriteString(name[open:])
			break
		}
		if inner := name[open+1 : open+end]; isIndex(inner) {
			b.WriteString("[" + inner + "]")
		} else {
			b.WriteString("." + inner)
		}
		name = name[open+end+1:]
	}
	return b.String()
}

// writeSegment writes the field names of a "a.b" stretch of a place.
func writeSegment(b *strings.Builder, seg string) {
	if seg = strings.Trim(seg, "."); seg != "" {
		b.WriteString("." + seg)
	}
}

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}
