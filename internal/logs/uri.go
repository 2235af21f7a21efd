package logs

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
)

// URIScheme is the scheme of the stdio URI by which a task's creator asks
// containerd-shim-berth-v1 to write the container's stdout and stderr as this json-file
// log itself: json-file:///ABS/PATH/ID-json.log?max-size=10m&max-file=3, given as both
// Stdout and Stderr of the task API's CreateTaskRequest. The query holds docker's
// --log-opt keys (ParseOptions).
const URIScheme = "json-file"

// ErrBadURI is wrapped by every error ParseURI returns.
var ErrBadURI = errors.New("invalid json-file log URI")

// URI is the stdio URI that asks for a json-file log at path (absolute), rotated as opts
// says; ParseURI reads it back.
func URI(path string, opts Options) string {
	q := url.Values{}
	if opts.MaxSize > 0 {
		q.Set("max-size", strconv.FormatInt(opts.MaxSize, 10))
		if opts.MaxFile > 0 {
			q.Set("max-file", strconv.Itoa(opts.MaxFile))
		}
	}
	u := url.URL{Scheme: URIScheme, Path: path, RawQuery: q.Encode()}
	return u.String() // json-file:///… : an empty host, as file:///
}

// ParseURI reads a json-file:// stdio URI: the log file's path (clean and absolute, no
// host) and its rotation from the query (max-size, max-file, compress=false, each at most
// once, as ParseOptions reads them).
func ParseURI(uri string) (string, Options, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", Options{}, fmt.Errorf("%w %q: %w", ErrBadURI, uri, err)
	}
	if u.Scheme != URIScheme {
		return "", Options{}, fmt.Errorf("%w %q: the scheme must be %s://", ErrBadURI, uri, URIScheme)
	}
	if u.Host != "" || u.Opaque != "" || u.User != nil || u.Fragment != "" {
		return "", Options{}, fmt.Errorf("%w %q: write %s:///ABSOLUTE/PATH (three slashes, no host)", ErrBadURI, uri, URIScheme)
	}
	if !filepath.IsAbs(u.Path) || filepath.Clean(u.Path) != u.Path || u.Path == "/" {
		return "", Options{}, fmt.Errorf("%w %q: the log file must be a clean absolute path", ErrBadURI, uri)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", Options{}, fmt.Errorf("%w %q: %w", ErrBadURI, uri, err)
	}
	opts := make(map[string]string, len(q))
	for k, v := range q {
		if len(v) != 1 {
			return "", Options{}, fmt.Errorf("%w %q: %s is given %d times", ErrBadURI, uri, k, len(v))
		}
		opts[k] = v[0]
	}
	o, err := ParseOptions(opts)
	if err != nil {
		return "", Options{}, fmt.Errorf("%w %q: %w", ErrBadURI, uri, err)
	}
	return u.Path, o, nil
}
