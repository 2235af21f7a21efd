// Package logs is docker's json-file log driver: a Writer that turns a container's
// stdout and stderr into the lines of <id>-json.log, rotated by size into <id>-json.log.1,
// .2, …, and Read, which hands those entries back as `docker logs` does (--tail, --since,
// --until, -f), following the file across rotations and restarts.
//
// One entry per line, as docker writes it:
//
//	{"log":"hello\n","stream":"stdout","time":"2026-11-27T08:00:00.123456789Z"}
//
// # Notes
//
//   - Why docker's format, byte for byte: people read container logs with `docker logs`
//     habits (--tail, -f, --since) and with tools that know docker's files (fluent-bit's
//     and promtail's docker parsers, Filebeat's container input, `jq`), pointed at
//     <id>-json.log and its .1, .2 rotations. Escaping (<, >, & as \u00XX, bad UTF-8 as
//     U+FFFD), the time (RFC 3339 with nanoseconds, UTC), the field order and the file
//     names are moby's (daemon/logger/jsonfilelog, loggerutils), so those tools read
//     berth's files unchanged.
//   - Lines as docker's copier makes them: a line longer than 16 KiB (MaxLine) becomes
//     entries of 16 KiB without "\n", then the rest with it, all with the time of the
//     first piece; bytes a process leaves without a newline are written, when its stream
//     ends (Stream.Flush, Writer.Close), as a partial entry without "\n".
//   - Rotation as docker's: before an entry, a file that reached max-size is renamed to
//     .1 (the others move up, the one beyond max-file is removed) and a new file begun,
//     so a file ends at the first entry that takes it to max-size or past it. With
//     max-file 1 the file is emptied instead. An entry is written with one write(2) and
//     never split across files; renames lose nothing. Compression is not done.
//   - Options are docker's --log-opt strings. max-size units are go-units'
//     FromHumanSize, which docker uses for it: k, m, g are powers of 1000 (10m is
//     10 000 000 bytes). Stricter than docker: max-file without max-size, which docker
//     accepts and ignores, is refused, and so are the options berth does not carry out
//     (compress=true, labels, env, tag) rather than silently dropped.
//   - Reading: --tail reads the files backwards from the end, block by block, so
//     `logs --tail 10` costs the same on a day of logs as on a minute. As in docker, the
//     tail counts entries before the stream and time filters.
//   - Following polls every 50 ms (PollInterval) at the end of the file, rather than
//     using inotify. One stat(2) sees a rename, a new file and an in-place truncation
//     alike, with no watch on the directory to re-arm at each rotation; inotify
//     instances are limited per user (fs.inotify.max_user_instances, 128 by default),
//     which a host with many `logs -f` would run into; the poll costs 20 wake-ups a
//     second per follower only while nothing is written (while entries come, the reader
//     does not sleep); and 50 ms is below what a person watching `logs -f` notices.
//     docker's own fallback poller waits 200 ms.
//   - A follower survives rotation: it holds the file open, reads it to its end after
//     the rename, then finds by inode the file written after it (if the writer rotated
//     several times meanwhile, it reads them in order; if max-file already removed some,
//     those lines are gone, as in docker). A restarted container's new Writer appends to
//     the same file, so -f follows across a restart with nothing to do. ReadOptions.Done
//     ends a follow when the container has ended: the reader hands over what the files
//     hold and returns. Close (or Flush) the Writer before closing Done.
//   - Damaged lines: docker's reader, on a line that is not JSON, restarts its decoder
//     further on and, after too many failures, stops with "Error grabbing logs: invalid
//     character …", hiding all later logs (moby#29511). Here a line that is not an entry
//     is skipped and told to ReadOptions.OnCorrupt; NULs before an entry (what a crash
//     leaves) are ignored; a line longer than 1 MiB is skipped without being held in
//     memory. Bytes after the last newline of the file being written are not an entry
//     yet: a follower waits for the rest.
//   - Stream.Write consumes all it is given and reports a failed write or rotation as an
//     error. A caller copying a container's pipe should report it and go on reading, as
//     docker's copier does: a plain io.Copy would stop, and the container would block on
//     a full pipe.
package logs
