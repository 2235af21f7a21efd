package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// writeFile writes one value to a cgroupfs control file. The error names the file and
// the value and wraps the errno (errors.Is(err, unix.EINVAL) and so on).
func writeFile(dir, file, value string) error {
	p := filepath.Join(dir, file)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(value)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("cgroup: set %s to %q: %w", p, value, unwrapPath(err))
	}
	return nil
}

// readString reads a control file, trimmed.
func readString(dir, file string) (string, error) {
	p := filepath.Join(dir, file)
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("cgroup: read %s: %w", p, unwrapPath(err))
	}
	return strings.TrimSpace(string(b)), nil
}

// readUint reads a control file holding one number. "max" reads as maxValue (cgroup v1
// metrics use 0 there, as containerd does; v2 metrics use math.MaxUint64). Negative numbers
// (v1's -1 for "no limit") read as 0.
func readUint(dir, file string, maxValue uint64) (uint64, error) {
	s, err := readString(dir, file)
	if err != nil {
		return 0, err
	}
	return parseUint(filepath.Join(dir, file), s, maxValue)
}

func parseUint(where, s string, maxValue uint64) (uint64, error) {
	if s == "max" {
		return maxValue, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		if i, ierr := strconv.ParseInt(s, 10, 64); ierr == nil && i < 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("cgroup: %s: %q is not a number: %w", where, s, err)
	}
	return v, nil
}

// readKV reads a flat keyed file ("key value" a line: memory.stat, cpu.stat, ...).
func readKV(dir, file string) (map[string]uint64, error) {
	p := filepath.Join(dir, file)
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("cgroup: read %s: %w", p, unwrapPath(err))
	}
	defer f.Close()
	out := make(map[string]uint64, 64)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			continue
		}
		n, err := parseUint(p, strings.TrimSpace(v), 0)
		if err != nil {
			return nil, err
		}
		out[k] = n
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cgroup: read %s: %w", p, err)
	}
	return out, nil
}

// exists reports whether a control file exists.
func exists(dir, file string) bool {
	_, err := os.Stat(filepath.Join(dir, file))
	return err == nil
}

// addProc writes pid to dir/cgroup.procs. The kernel answers EINVAL while a just-forked
// task is still TASK_NEW; like runc and containerd, retry a few times.
// The error is the bare errno (ESRCH for a process that is gone, ...).
func addProc(dir string, pid int) error {
	f, err := os.OpenFile(filepath.Join(dir, "cgroup.procs"), os.O_WRONLY, 0)
	if err != nil {
		return unwrapPath(err)
	}
	defer f.Close()
	for range 5 {
		_, err = f.WriteString(strconv.Itoa(pid))
		err = unwrapPath(err)
		if !errors.Is(err, unix.EINVAL) {
			return err
		}
		time.Sleep(30 * time.Millisecond)
	}
	return err
}

// removeDirs removes cgroup directories and any child cgroups below them, children
// first. cgroupfs directories are removed with rmdir alone: their control files cannot be
// unlinked. A directory that is already gone is not an error. EBUSY (a process still
// inside, or one that just exited and is not gone yet) is retried, for all the
// directories together, with a backoff of about 0.3 s in all.
func removeDirs(dirs ...string) error {
	delay := 10 * time.Millisecond
	for i := 0; ; i++ {
		var busy []string
		var errs []error
		for _, d := range dirs {
			err := removeTree(d)
			if errors.Is(err, unix.EBUSY) {
				busy = append(busy, d)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
		if len(busy) == 0 || len(busy) < len(errs) || i == 5 {
			return errors.Join(errs...)
		}
		dirs = busy
		time.Sleep(delay)
		delay *= 2
	}
}

func removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cgroup: remove %s: %w", dir, unwrapPath(err))
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("cgroup: remove %s: %w", dir, err)
	}
	return nil
}

// unwrapPath drops an *fs.PathError's own copy of the path, which the callers' messages
// already name.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
