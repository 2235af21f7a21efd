package logs

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// ErrBadOption is wrapped by every error ParseOptions returns.
var ErrBadOption = errors.New("invalid log option")

// Options are the json-file driver's rotation settings.
type Options struct {
	// MaxSize is the size in bytes at which the file is rotated; 0 means never.
	MaxSize int64
	// MaxFile is how many files are kept, the one being written included (docker's
	// max-file); 0 or 1 keeps one: at MaxSize it is emptied, as docker does. It only
	// matters with MaxSize.
	MaxFile int
}

// sizeRE is go-units' size syntax: a number, an optional space, an optional unit letter,
// an optional "i" and an optional "b", case-insensitive. Compiled on first use: berth
// links this package, and a package-level regexp would cost every berth process
// (a foreground `run` included) its compile time at start-up.
var sizeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)^(\d+(\.\d+)*) ?([kmgtp])?i?b?$`) })

// parseSize reads a max-size value as docker does (go-units FromHumanSize): k, m, g, t
// and p are powers of 1000, so 10m is 10 000 000 bytes.
func parseSize(s string) (int64, bool) {
	m := sizeRE().FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	mult := map[string]float64{"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15}[strings.ToLower(m[3])]
	f *= mult
	if f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// docker's json-file options that berth does not carry out: refused rather than ignored.
var unsupported = map[string]string{
	"labels":       "berth adds no attrs to log entries",
	"labels-regex": "berth adds no attrs to log entries",
	"env":          "berth adds no attrs to log entries",
	"env-regex":    "berth adds no attrs to log entries",
	"tag":          "berth adds no attrs to log entries",
}

// ParseOptions reads `--log-opt` values of docker's json-file driver: max-size (a
// positive size such as 10m, 512k or 1g; units as docker's, powers of 1000) and max-file
// (a whole number ≥ 1, only with max-size). compress=false is accepted; compress=true,
// labels, env and tag are refused with the reason, and any other key is unknown.
func ParseOptions(opts map[string]string) (Options, error) {
	var o Options
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same input always gives the same first error
	for _, k := range keys {
		v := opts[k]
		switch k {
		case "max-size":
			n, ok := parseSize(v)
			if !ok || n <= 0 {
				return Options{}, fmt.Errorf("%w max-size=%q: use a positive size such as 10m, 512k or 1g (k, m, g: powers of 1000, as docker)", ErrBadOption, v)
			}
			o.MaxSize = n
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return Options{}, fmt.Errorf("%w max-file=%q: use a whole number of files, 1 or more", ErrBadOption, v)
			}
			o.MaxFile = n
		case "compress":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Options{}, fmt.Errorf("%w compress=%q: use true or false", ErrBadOption, v)
			}
			if b {
				return Options{}, fmt.Errorf("%w compress=true: berth keeps rotated log files uncompressed; leave compress out", ErrBadOption)
			}
		default:
			if why, ok := unsupported[k]; ok {
				return Options{}, fmt.Errorf("%w %s: not supported (%s)", ErrBadOption, k, why)
			}
			return Options{}, fmt.Errorf("%w: unknown log opt '%s' for json-file log driver; berth knows max-size, max-file and compress=false", ErrBadOption, k)
		}
	}
	if _, ok := opts["max-file"]; ok && o.MaxSize == 0 {
		return Options{}, fmt.Errorf("%w max-file=%s: it only counts rotated files, so it needs max-size (add --log-opt max-size=10m)", ErrBadOption, opts["max-file"])
	}
	return o, nil
}
