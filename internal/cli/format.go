package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
)

// printTable writes rows with docker's --format semantics: "" uses def (a "table …"
// template), "json" writes one JSON object per row, "table TEMPLATE" writes a header and
// aligned columns, anything else is a Go template applied to each row. idColumn names
// the .ID column ("IMAGE ID", "CONTAINER ID").
func printTable[T any](w io.Writer, format, def, idColumn string, rows []T) error {
	// Buffered: tabwriter and the templates write each cell and line on their own, a
	// write system call each, 8 % of `berth ps -a` with 1000 containers.
	bw := bufio.NewWriter(w)
	err := writeTable(bw, format, def, idColumn, rows)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

func writeTable[T any](w io.Writer, format, def, idColumn string, rows []T) error {
	if format == "" {
		format = def
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	table := strings.HasPrefix(format, "table")
	text := strings.TrimSpace(strings.TrimPrefix(format, "table"))
	text = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(text)
	tmpl, err := parseFormat(text)
	if err != nil {
		return err
	}
	out := w
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
		out = tw
		header := headerOf(text)
		if _, ok := header["ID"]; ok {
			header["ID"] = idColumn
		}
		if err := tmpl.Execute(tw, header); err != nil {
			return fmt.Errorf("%w: --format: %v", ErrBadSpec, err)
		}
		fmt.Fprintln(tw)
	}
	for _, r := range rows {
		if err := tmpl.Execute(out, r); err != nil {
			return fmt.Errorf("%w: --format: %v", ErrBadSpec, err)
		}
		fmt.Fprintln(out)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

// headerOf turns "{{.Repository}}\t{{.CreatedSince}}" into a map rendering
// "REPOSITORY\tCREATED", the way docker names its columns.
func headerOf(text string) map[string]string {
	h := map[string]string{}
	for _, part := range strings.Split(text, "{{") {
		field, _, ok := strings.Cut(part, "}}")
		if !ok {
			continue
		}
		field = strings.TrimPrefix(strings.TrimSpace(field), ".")
		h[field] = columnName(field)
	}
	return h
}

func columnName(field string) string {
	switch field {
	case "CreatedSince", "RunningFor":
		return "CREATED"
	case "CreatedAt":
		return "CREATED AT"
	case "Names":
		return "NAMES"
	case "CPUPerc": // docker stats' columns
		return "CPU %"
	case "MemUsage":
		return "MEM USAGE / LIMIT"
	case "MemPerc":
		return "MEM %"
	case "NetIO":
		return "NET I/O"
	case "BlockIO":
		return "BLOCK I/O"
	case "PIDs":
		return "PIDS"
	}
	var b strings.Builder
	for i, r := range field {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// humanSize is docker's size format (decimal units, 3 significant digits).
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.3g", f), ".0"), ".") + units[i]
}

// humanDuration is docker's "how long ago" wording (go-units HumanDuration).
func humanDuration(d time.Duration) string {
	s := int(d.Seconds())
	switch {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	m := int(d.Minutes())
	switch {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	h := int(d.Round(time.Hour).Hours())
	switch {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	case h < 24*30*2:
		return fmt.Sprintf("%d weeks", h/24/7)
	case h < 24*365*2:
		return fmt.Sprintf("%d months", h/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

func since(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	return humanDuration(now.Sub(t)) + " ago"
}

// parseFormat parses a --format Go template with docker's functions (json, upper,
// lower, join).
func parseFormat(text string) (*template.Template, error) {
	tmpl, err := template.New("format").Funcs(template.FuncMap{
		"json":  func(v any) string { b, _ := json.Marshal(v); return string(b) },
		"upper": strings.ToUpper, "lower": strings.ToLower,
		"join": strings.Join,
	}).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%w: --format: %v", ErrBadSpec, err)
	}
	return tmpl, nil
}

// writeEach writes each of values through the Go template text, a line each, as
// `docker inspect --format` does.
func writeEach(w io.Writer, text string, values []any) error {
	tmpl, err := parseFormat(text)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	for _, v := range values {
		if err := tmpl.Execute(bw, v); err != nil {
			bw.Flush()
			return fmt.Errorf("%w: --format: %v", ErrBadSpec, err)
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
