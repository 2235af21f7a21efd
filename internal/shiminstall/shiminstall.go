// Package shiminstall registers berth's containerd shim with containerd: it edits the
// text of a containerd config.toml (version 2 for containerd 1.6/1.7, version 3 for
// containerd 2.x, or version 4, which containerd 2.2+ writes and which keeps the
// runtimes where version 3 has them) so that the CRI plugin knows a runtime handler
// "berth" of runtime type io.containerd.berth.v1, removes that registration again,
// and installs the shim binary next to containerd's other shims.
//
// Install and Uninstall are pure: text in, text out. ReadConfig, WriteConfig,
// InstallBinary and RemoveBinary do the file work (atomic writes, a backup).
//
// # Notes
//
//   - The user's file is edited as text and never re-serialised: every comment, every
//     blank line and the spelling of every other setting stay byte for byte. What is
//     added is one block between two marker comments (BeginMarker … EndMarker) at the
//     end of the file, so Uninstall can remove exactly that and nothing else.
//   - go-toml parses the text before and after each edit: to read the version, to find
//     an existing "berth" entry whatever its spelling (dotted keys, inline tables, '…'
//     or "…" quoting), and to prove that the edit changed nothing but the berth entry.
//     An edit that fails that proof is refused, never written.
//   - A config without a version key is containerd's version 1, whose plugin names
//     differ; containerd itself can migrate it (`containerd config migrate`), so it is
//     refused instead of guessed at.
//   - containerd 1.x decodes a plugin's config onto its defaults with go-toml v1,
//     which replaces a map instead of merging it: a version 2 config that names no
//     runtime at all, once given [...runtimes.berth], would lose the built-in "runc"
//     handler and every ordinary pod with it (seen with containerd 1.6.20's
//     `config dump`). So in that case the block also names runc, as containerd's
//     default does. containerd 2.x merges, so version 3 blocks never need it.
//   - Install also sets use_local_image_pull = true in [plugins.'io.containerd.cri.v1.images']
//     (containerd 2.1+). Since 2.1, CRI pulls through the transfer service, which
//     unpacks only layers whose image config names the node's OS: a wasi/wasm image is
//     fetched but never unpacked, and the kubelet's pod then fails with "parent snapshot
//     … does not exist". The client pull that setting selects (2.0's way) unpacks every
//     platform. containerd's per-runtime runtime_platforms.<handler>.platform does not
//     help: 2.4 parses it and uses only its snapshotter. It goes into version 2 configs
//     too: containerd 2.x migrates them and keeps the table, 1.x ignores a plugin it does
//     not have. The setting is written beside an existing [… images] header, or in
//     place of a line that sets it otherwise (kept as a comment for Uninstall, as Force
//     keeps a replaced runtime); set in any other form, it is left alone with a warning.
package shiminstall

import (
	"errors"
)

const (
	// RuntimeName is the CRI runtime handler name: a RuntimeClass's `handler: berth`.
	RuntimeName = "berth"
	// RuntimeType is the containerd runtime type; containerd execs ShimBinary for it.
	RuntimeType = "io.containerd.berth.v1"
	// ShimBinary is the file name containerd looks for on its PATH for RuntimeType.
	ShimBinary = "containerd-shim-berth-v1"
	// GuestBinary is the program the shim runs for each container; it must be installed
	// next to ShimBinary.
	GuestBinary = "berth-guest"
	// BackupSuffix is appended to the config's path for the copy saved before berth
	// changes the file for the first time.
	BackupSuffix = ".berth-bak"

	// BeginMarker starts every block that Install adds; the rest of its line may say
	// that one line break before it was added too.
	BeginMarker = "# added by berth shim install"
	// EndMarker ends a block.
	EndMarker = "# end berth"
	// LocalPullKey is the setting of containerd 2.1+'s CRI image plugin that Install
	// turns on in version 3 and 4 configs (see the package notes).
	LocalPullKey = "use_local_image_pull"

	// savedPrefix starts the lines of a block that keep a line Install commented out
	// (with Force), so that Uninstall can put it back.
	savedPrefix = "#| "
	// Suffixes of BeginMarker: Install added one line break right before the block,
	// either to leave an empty line or to end a last line that had none.
	flagEmptyLine = " (and the empty line above)"
	flagLineBreak = " (and the line break above)"
	// replacedNote follows BeginMarker on blocks that keep replaced lines.
	replacedNote = ": replaced lines, restored by berth shim uninstall"
)

var (
	// ErrInvalidConfig: the text is not TOML.
	ErrInvalidConfig = errors.New("invalid containerd config")
	// ErrConfigV1: the config has no version key, which containerd reads as version 1.
	ErrConfigV1 = errors.New("containerd config version 1 is not supported: migrate it first (containerd config migrate > NEW && mv NEW CONFIG)")
	// ErrUnsupportedVersion: a version other than 1, 2 or 3.
	ErrUnsupportedVersion = errors.New("unsupported containerd config version")
	// ErrConflict: a runtime named berth exists with another runtime_type.
	ErrConflict = errors.New("a different runtime is registered as berth")
	// ErrManualEdit: the entry cannot be added or replaced by appending a table
	// (for example because a parent table is an inline table).
	ErrManualEdit = errors.New("cannot edit this config automatically")
	// ErrMarkers: the berth marker comments are not in the shape Install writes.
	ErrMarkers = errors.New("unexpected berth marker comments")
	// ErrBadOption: a runtime option that cannot be written as a plain TOML value.
	ErrBadOption = errors.New("invalid runtime option")
	// ErrUnknownContainerd: a `containerd --version` output without a version number.
	ErrUnknownContainerd = errors.New("cannot read containerd's version")
)

// Options tune Install.
type Options struct {
	// Version is the config version (2 or 3) written when the text is empty (or holds
	// only comments); zero means 2. A non-empty config keeps its own version.
	Version int
	// Force replaces an existing berth entry of another runtime type. The replaced
	// lines are kept as comments in a marked block and Uninstall restores them.
	Force bool
	// RuntimeOptions, when not empty, are written as the runtime's options table
	// ([...runtimes.berth.options]), which containerd hands to the shim. Values must be
	// strings, booleans, integers, floats or lists of those.
	//
	// # Notes
	//
	//   - This is the hook for shim options; berth's shim needs none today. An existing
	//     entry with the right runtime_type counts as registered whatever its options:
	//     to change them, uninstall and install again.
	RuntimeOptions map[string]any
}

// Result is the outcome of Install or Uninstall.
type Result struct {
	// Output is the new text; it is the input itself when Changed is false.
	Output []byte
	// Changed tells whether Output differs from the input.
	Changed bool
	// Version is the config version (2 or 3); 0 when Uninstall did not need it.
	Version int
	// Message says what was done, in one line, e.g. "already registered".
	Message string
	// Warnings are things the user should know that did not stop the edit.
	Warnings []string
}

// Binaries are the files install puts on containerd's PATH, the shim first.
var Binaries = []string{ShimBinary, GuestBinary}
