package shiminstall

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// criPlugin is the CRI plugin whose config holds the runtimes, per config version.
// Version 4 (containerd 2.2+) moved server settings only; its runtimes sit where 3 has them.
var criPlugin = map[int]string{2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.runtime", 4: "io.containerd.cri.v1.runtime"}

// runtimesPath is the path of the CRI runtimes table in a config of version v.
func runtimesPath(v int) []string {
	return []string{"plugins", criPlugin[v], "containerd", "runtimes"}
}

// runtimePath is the path of runtime name's table in a config of version v.
func runtimePath(v int, name string) []string { return append(runtimesPath(v), name) }

// Install returns text with the berth runtime registered.
//
// Text that already registers berth with RuntimeType comes back unchanged, so a
// second Install changes nothing. Empty text (or only comments) becomes a minimal
// config of o.Version.
func Install(text []byte, o Options) (*Result, error) {
	tree, err := parse(text)
	if err != nil {
		return nil, err
	}
	d, err := scan(text)
	if err != nil {
		return nil, err
	}
	empty := len(tree) == 0
	var ver int
	if empty {
		ver = o.Version
		if ver == 0 {
			ver = 2
		}
		if ver != 2 && ver != 3 {
			return nil, fmt.Errorf("%w: %d (berth writes version 2 for containerd 1.6/1.7 or 3 for containerd 2.x)", ErrUnsupportedVersion, ver)
		}
	} else if ver, err = configVersion(tree); err != nil {
		return nil, err
	}
	res := &Result{Version: ver, Warnings: warnings(tree, ver)}
	bpath := runtimePath(ver, RuntimeName)

	var replace [][2]int // line ranges that Force comments out
	if cur, ok := lookup(tree, bpath); ok {
		rt, _ := lookupString(cur, "runtime_type")
		if rt == RuntimeType {
			res.Output, res.Message = text, fmt.Sprintf("already registered: runtime %q (runtime_type %s) at line %d", RuntimeName, RuntimeType, d.defLine(bpath))
			return res, nil
		}
		if !o.Force {
			what := "with no runtime_type"
			if rt != "" {
				what = fmt.Sprintf("with runtime_type %q", rt)
			}
			return nil, fmt.Errorf("%w: line %d registers runtime %q %s, not %q; use --force to replace it (berth shim uninstall puts it back)",
				ErrConflict, d.defLine(bpath), RuntimeName, what, RuntimeType)
		}
		if replace, err = d.replaceRanges(bpath); err != nil {
			return nil, err
		}
	}
	if len(d.blocks) > 0 {
		return nil, fmt.Errorf("%w: line %d starts a berth block but berth is not registered; run berth shim uninstall first, or delete the block",
			ErrMarkers, d.blocks[0].first+1)
	}
	for _, e := range d.exprs {
		if e.kind == unstable.KeyValue && len(e.path) < len(bpath) && hasPrefix(bpath, e.path) {
			return nil, fmt.Errorf("%w: line %d sets %s as a value (an inline table?), so no table can be added under it: add [%s] with runtime_type = %q by hand",
				ErrManualEdit, e.line+1, tomlKey(e.path, '"'), tomlKey(bpath, '"'), RuntimeType)
		}
	}
	_, hasRuntimes := lookup(tree, runtimesPath(ver))
	addRunc := ver == 2 && !hasRuntimes

	body, err := buildBlock(ver, empty, addRunc, o.RuntimeOptions)
	if err != nil {
		return nil, err
	}
	out := assemble(text, d, replace, body)

	// Prove the edit: the output parses, registers berth, and says nothing else new.
	after, err := parse(out)
	if err != nil {
		return nil, fmt.Errorf("%w: the edited config would not parse (%v): add [%s] with runtime_type = %q by hand",
			ErrManualEdit, err, tomlKey(bpath, '"'), RuntimeType)
	}
	if cur, ok := lookup(after, bpath); !ok {
		return nil, fmt.Errorf("%w: an appended [%s] does not land there (is a parent an array of tables?); add the runtime by hand",
			ErrManualEdit, tomlKey(bpath, '"'))
	} else if rt, _ := lookupString(cur, "runtime_type"); rt != RuntimeType {
		return nil, fmt.Errorf("%w: the edited config registers berth as %q", ErrManualEdit, rt)
	}
	drop(after, bpath)
	drop(tree, bpath)
	if addRunc {
		drop(after, runtimePath(ver, "runc"))
	}
	if empty {
		delete(after, "version")
	}
	if !sameValue(tree, after) {
		return nil, fmt.Errorf("%w: appending the berth table would change other settings", ErrManualEdit)
	}
	res.Output, res.Changed = out, true
	res.Message = fmt.Sprintf("registered runtime %q (runtime_type %s) in a version %d config", RuntimeName, RuntimeType, ver)
	if len(replace) > 0 {
		res.Message += fmt.Sprintf(", replacing the entry at line %d", replace[0][0]+1)
	}
	return res, nil
}

// Uninstall returns text without the blocks that Install added, restoring the lines
// a forced Install commented out. A berth entry that Install did not add is left
// alone (and named in the message).
func Uninstall(text []byte) (*Result, error) {
	tree, err := parse(text)
	if err != nil {
		return nil, err
	}
	d, err := scan(text)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	if v, err := configVersion(tree); err == nil {
		res.Version = v
	}
	if len(d.blocks) == 0 {
		res.Output = text
		res.Message = "nothing to remove: no block added by berth shim install"
		for _, v := range []int{2, 3} {
			if _, ok := lookup(tree, runtimePath(v, RuntimeName)); ok {
				res.Message += fmt.Sprintf("; runtime %q at line %d was not added by berth shim install and is left as it is",
					RuntimeName, d.defLine(runtimePath(v, RuntimeName)))
			}
		}
		return res, nil
	}
	var b strings.Builder
	next := 0
	for _, bl := range d.blocks {
		for _, l := range d.lines[next:bl.first] {
			b.WriteString(l)
		}
		if strings.HasSuffix(bl.header, flagEmptyLine) || strings.HasSuffix(bl.header, flagLineBreak) {
			nl := "\n"
			if strings.HasSuffix(d.lines[bl.first], "\r\n") {
				nl = "\r\n"
			}
			s := b.String()
			if strings.HasSuffix(s, nl) {
				b.Reset()
				b.WriteString(s[:len(s)-len(nl)])
			}
		}
		for _, l := range d.lines[bl.first+1 : bl.last] {
			if rest, ok := strings.CutPrefix(l, savedPrefix); ok {
				b.WriteString(rest)
			}
		}
		next = bl.last + 1
	}
	for _, l := range d.lines[next:] {
		b.WriteString(l)
	}
	out := []byte(b.String())
	if _, err := parse(out); err != nil {
		return nil, fmt.Errorf("%w: without the berth blocks the config would not parse (%v); was it edited by hand since?", ErrManualEdit, err)
	}
	res.Output, res.Changed = out, true
	res.Message = fmt.Sprintf("removed %d block(s) added by berth shim install", len(d.blocks))
	return res, nil
}

// parse decodes text into a generic tree.
func parse(text []byte) (map[string]any, error) {
	tree := map[string]any{}
	if err := toml.Unmarshal(text, &tree); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return tree, nil
}

// configVersion reads the version key as containerd does: missing means 1.
func configVersion(tree map[string]any) (int, error) {
	v, ok := tree["version"]
	if !ok {
		return 0, ErrConfigV1
	}
	n, ok := v.(int64)
	switch {
	case !ok:
		return 0, fmt.Errorf("%w: version = %v is not an integer", ErrUnsupportedVersion, v)
	case n == 1:
		return 0, ErrConfigV1
	case n >= 2 && n <= 4:
		return int(n), nil
	}
	return 0, fmt.Errorf("%w: version = %d (berth knows 2, 3 and 4)", ErrUnsupportedVersion, n)
}

// warnings notes settings that keep the runtime from being used.
func warnings(tree map[string]any, ver int) []string {
	var w []string
	if list, ok := tree["disabled_plugins"].([]any); ok {
		for _, p := range list {
			if s, _ := p.(string); s == "cri" || s == "io.containerd.grpc.v1.cri" || s == criPlugin[ver] {
				w = append(w, fmt.Sprintf("disabled_plugins lists %q: Kubernetes cannot use berth until the CRI plugin is enabled (docker and ctr can still use --runtime %s)", s, RuntimeType))
			}
		}
	}
	if _, ok := tree["imports"]; ok {
		w = append(w, "this config imports other files; berth entries in them are not checked")
	}
	return w
}

// lookup walks a tree along path.
func lookup(tree map[string]any, path []string) (map[string]any, bool) {
	cur := tree
	for _, k := range path {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

func lookupString(m map[string]any, k string) (string, bool) {
	s, ok := m[k].(string)
	return s, ok
}

// drop deletes path's last key and then every parent on path left empty.
func drop(tree map[string]any, path []string) {
	if len(path) == 0 {
		return
	}
	parent, ok := lookup(tree, path[:len(path)-1])
	if !ok {
		return
	}
	delete(parent, path[len(path)-1])
	if len(parent) == 0 {
		drop(tree, path[:len(path)-1])
	}
}

// sameValue is reflect.DeepEqual except that NaN equals NaN.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	}
	return reflect.DeepEqual(a, b)
}

// defLine returns the 1-based line where path (or the first thing under it) is
// defined, preferring the line that sets its runtime_type.
func (d *doc) defLine(path []string) int {
	rt := append(append([]string(nil), path...), "runtime_type")
	first := 0
	for _, e := range d.exprs {
		var paths [][]string
		switch e.kind {
		case unstable.Table, unstable.ArrayTable, unstable.KeyValue:
			paths = append([][]string{e.path}, e.inner...)
		}
		for _, p := range paths {
			if equal(p, rt) {
				return e.line + 1
			}
			if first == 0 && hasPrefix(p, path) {
				first = e.line + 1
			}
		}
	}
	return first
}

func equal(a, b []string) bool { return len(a) == len(b) && hasPrefix(a, b) }

// replaceRanges returns the line ranges that define path: table sections whose
// header is path or below it, and dotted keys that reach into it. It fails when path
// is (partly) defined inside an inline table, which cannot be cut out by lines.
func (d *doc) replaceRanges(path []string) ([][2]int, error) {
	var out [][2]int
	inSection := false
	for i, e := range d.exprs {
		switch e.kind {
		case unstable.Table, unstable.ArrayTable:
			inSection = hasPrefix(e.path, path)
			if inSection {
				out = append(out, [2]int{e.line, d.lastLine(i)})
			}
		case unstable.KeyValue:
			if inSection {
				continue
			}
			if hasPrefix(e.path, path) {
				out = append(out, [2]int{e.line, d.lastLine(i)})
				continue
			}
			for _, p := range e.inner {
				if hasPrefix(p, path) {
					return nil, fmt.Errorf("%w: line %d defines runtime %q inside an inline table; replace it by hand", ErrManualEdit, e.line+1, RuntimeName)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	// Ranges that touch become one block.
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && r[0] <= merged[n-1][1]+1 {
			merged[n-1][1] = max(merged[n-1][1], r[1])
			continue
		}
		merged = append(merged, r)
	}
	return merged, nil
}

// buildBlock returns the lines of the block's content (no markers), each ending
// with "\n".
func buildBlock(ver int, empty, addRunc bool, opts map[string]any) (string, error) {
	q := byte('"')
	if ver >= 3 {
		q = '\''
	}
	str := func(s string) string { return string(q) + s + string(q) }
	var b strings.Builder
	if empty {
		fmt.Fprintf(&b, "version = %d\n", ver)
	}
	if addRunc {
		fmt.Fprintf(&b, "[%s]\n  runtime_type = %s\n", tomlKey(runtimePath(ver, "runc"), q), str("io.containerd.runc.v2"))
	}
	fmt.Fprintf(&b, "[%s]\n  runtime_type = %s\n", tomlKey(runtimePath(ver, RuntimeName), q), str(RuntimeType))
	if len(opts) > 0 {
		fmt.Fprintf(&b, "[%s]\n", tomlKey(append(runtimePath(ver, RuntimeName), "options"), q))
		keys := make([]string, 0, len(opts))
		for k := range opts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !plainValue(opts[k]) {
				return "", fmt.Errorf("%w: %s = %v (%T)", ErrBadOption, k, opts[k], opts[k])
			}
			line, err := toml.Marshal(map[string]any{k: opts[k]})
			if err != nil {
				return "", fmt.Errorf("%w: %s: %v", ErrBadOption, k, err)
			}
			b.WriteString("  ")
			b.Write(line)
		}
	}
	return b.String(), nil
}

// plainValue reports whether v is written on one line as a TOML value.
func plainValue(v any) bool {
	switch x := v.(type) {
	case string, bool, int, int32, int64, uint32, float64:
		return true
	case []string:
		return true
	case []any:
		for _, e := range x {
			if !plainValue(e) {
				return false
			}
		}
		return true
	}
	return false
}

// assemble writes text with the ranges commented out into marked blocks and the new
// block (body) appended at the end.
func assemble(text []byte, d *doc, replace [][2]int, body string) []byte {
	nl := lineBreak(text)
	lines := d.lines
	flag := ""
	if n := len(lines); n > 0 && !strings.HasSuffix(lines[n-1], "\n") {
		lines = append(append([]string(nil), lines[:n-1]...), lines[n-1]+nl)
		flag = flagLineBreak
	}
	var b strings.Builder
	next := 0
	for _, r := range replace {
		for _, l := range lines[next:r[0]] {
			b.WriteString(l)
		}
		b.WriteString(BeginMarker + replacedNote + nl)
		for _, l := range lines[r[0] : r[1]+1] {
			b.WriteString(savedPrefix + l)
		}
		b.WriteString(EndMarker + nl)
		next = r[1] + 1
	}
	for _, l := range lines[next:] {
		b.WriteString(l)
	}
	if n := len(lines); flag == "" && n > 0 && !isBlank(lines[n-1]) {
		b.WriteString(nl)
		flag = flagEmptyLine
	}
	b.WriteString(BeginMarker + flag + nl)
	b.WriteString(strings.ReplaceAll(body, "\n", nl))
	b.WriteString(EndMarker + nl)
	return []byte(b.String())
}
