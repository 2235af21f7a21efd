package shiminstall

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// criPlugin is the CRI plugin whose config holds the runtimes, per config version.
// Version 4 (containerd 2.2+) moved server settings only; its runtimes sit where 3 has them.
var criPlugin = map[int]string{2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.runtime", 4: "io.containerd.cri.v1.runtime"}

// imagesPlugin is containerd 2.x's CRI image plugin (config versions 3 and 4).
const imagesPlugin = "io.containerd.cri.v1.images"

// localPullPath is the path of use_local_image_pull (the same in every config version:
// containerd 2.x keeps the table when it migrates a version 2 config).
var localPullPath = []string{"plugins", imagesPlugin, LocalPullKey}

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
			if ver >= 3 && !localPullOn(tree) {
				res.Warnings = append(res.Warnings, localPullWarning)
			}
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
	edits := make([]edit, 0, len(replace)+1)
	for _, r := range replace {
		edits = append(edits, edit{first: r[0], last: r[1]})
	}
	out := assemble(text, d, edits, body)
	// Every version: containerd 2.x reads (and migrates) version 2 configs too, and
	// containerd 1.x ignores the table of a plugin it does not have.
	pull := !localPullOn(tree)
	if pull {
		// The same edit with use_local_image_pull = true; kept only if it parses and
		// proves, else the runtime alone is added and the user told what to set.
		pe, pbody, ok := d.planLocalPull(body, ver)
		var pout []byte
		if ok {
			pout = assemble(text, d, append(edits, pe...), pbody)
			if after, err := parse(pout); err != nil || !localPullOn(after) {
				ok = false
			}
		}
		if ok {
			out = pout
		} else {
			res.Warnings = append(res.Warnings, localPullWarning)
			pull = false
		}
	}

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
	if pull {
		drop(after, localPullPath)
		drop(tree, localPullPath)
	}
	if !sameValue(tree, after) {
		return nil, fmt.Errorf("%w: appending the berth table would change other settings", ErrManualEdit)
	}
	res.Output, res.Changed = out, true
	res.Message = fmt.Sprintf("registered runtime %q (runtime_type %s) in a version %d config", RuntimeName, RuntimeType, ver)
	if len(replace) > 0 {
		res.Message += fmt.Sprintf(", replacing the entry at line %d", replace[0][0]+1)
	}
	if pull {
		res.Message += fmt.Sprintf(", and set %s = true (CRI then unpacks wasi/wasm images it pulls)", LocalPullKey)
	}
	return res, nil
}

// localPullWarning is given when a version 3+ config registers berth but CRI pulls
// through the transfer service.
var localPullWarning = fmt.Sprintf("[plugins.'%s'] %s is not true and berth could not set it: "+
	"containerd 2.1+ then pulls through its transfer service, which does not unpack wasi/wasm images, and Wasm pods "+
	"fail with \"parent snapshot … does not exist\"; set it by hand (docs/kubernetes.md)", imagesPlugin, LocalPullKey)

// localPullOn reports whether tree sets use_local_image_pull = true.
func localPullOn(tree map[string]any) bool {
	m, ok := lookup(tree, localPullPath[:2])
	if !ok {
		return false
	}
	v, _ := m[LocalPullKey].(bool)
	return v
}

// edit is one marked block written in place of lines first..last (their text kept as
// saved lines for Uninstall); with last < first nothing is replaced and the block goes
// before line first. add is the block's new content, each line ending with "\n".
type edit struct {
	first, last int
	add         string
}

// planLocalPull returns where use_local_image_pull = true goes: in place of the line
// that sets it to something else, right after a [plugins.'io.containerd.cri.v1.images']
// header, or (with neither) as that table at the end of body. ok is false when the key
// is set in a form berth does not edit (a dotted key from another table, an inline
// table, a value over several lines).
func (d *doc) planLocalPull(body string, ver int) (edits []edit, newBody string, ok bool) {
	table := localPullPath[:2]
	header, current := -1, []string(nil)
	for i, e := range d.exprs {
		switch e.kind {
		case unstable.Table, unstable.ArrayTable:
			current = e.path
			if equal(e.path, table) {
				header = e.line
			}
		case unstable.KeyValue:
			if !equal(e.path, localPullPath) {
				continue
			}
			if !equal(current, table) || d.lastLine(i) != e.line {
				return nil, "", false
			}
			indent := d.lines[e.line][:len(d.lines[e.line])-len(strings.TrimLeft(d.lines[e.line], " \t"))]
			return []edit{{first: e.line, last: e.line, add: indent + LocalPullKey + " = true\n"}}, body, true
		}
	}
	if header >= 0 {
		return []edit{{first: header + 1, last: header, add: "  " + LocalPullKey + " = true\n"}}, body, true
	}
	q := byte('\'')
	if ver == 2 {
		q = '"'
	}
	return nil, body + fmt.Sprintf("[%s]\n  %s = true\n", tomlKey(table, q), LocalPullKey), true
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

// assemble writes text with the edits made as marked blocks (replaced lines kept as
// comments) and the new block (body) appended at the end.
func assemble(text []byte, d *doc, edits []edit, body string) []byte {
	nl := lineBreak(text)
	lines := d.lines
	flag := ""
	if n := len(lines); n > 0 && !strings.HasSuffix(lines[n-1], "\n") {
		lines = append(append([]string(nil), lines[:n-1]...), lines[n-1]+nl)
		flag = flagLineBreak
	}
	edits = slices.Clone(edits)
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].first < edits[j].first })
	var b strings.Builder
	next := 0
	for _, e := range edits {
		for _, l := range lines[next:e.first] {
			b.WriteString(l)
		}
		if e.last >= e.first {
			b.WriteString(BeginMarker + replacedNote + nl)
		} else {
			b.WriteString(BeginMarker + nl)
		}
		for _, l := range lines[e.first : e.last+1] {
			b.WriteString(savedPrefix + l)
		}
		b.WriteString(strings.ReplaceAll(e.add, "\n", nl))
		b.WriteString(EndMarker + nl)
		next = max(next, e.last+1, e.first)
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
