package archive

import (
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// memberKind says what Read does with a tar member, decided by its name alone.
type memberKind int

const (
	kindIgnore      memberKind = iota // not read
	kindMeta                          // oci-layout, index.json, manifest.json, repositories: held in memory
	kindBlob                          // blobs/<alg>/<hex>: stored, checked against the digest in its name
	kindConfigJSON                    // <hex>.json of docker save: a config named by its sha256
	kindLegacyLayer                   // <id>/layer.tar or <hex>.tar: stored, checked later against diff_ids
)

const (
	memberOCILayout    = "oci-layout"
	memberIndex        = "index.json"
	memberManifest     = "manifest.json"
	memberRepositories = "repositories"
)

// cleanMemberName strips the "./" prefixes tar tools add and reports whether the name is safe:
// not absolute and without a ".." element (with either separator, as a Windows tool would read
// it). Read refuses archives with unsafe names.
func cleanMemberName(name string) (string, bool) {
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	if strings.HasPrefix(name, "/") || strings.HasPrefix(name, "\\") {
		return name, false
	}
	for _, el := range strings.FieldsFunc(name, func(r rune) bool { return r == '/' || r == '\\' }) {
		if el == ".." {
			return name, false
		}
	}
	return name, true
}

// classify decides what to do with a (cleaned) member name. For kindBlob and kindConfigJSON it
// also returns the digest the name carries.
func classify(name string) (memberKind, v1.Hash) {
	switch name {
	case memberOCILayout, memberIndex, memberManifest, memberRepositories:
		return kindMeta, v1.Hash{}
	}
	parts := strings.Split(name, "/")
	switch len(parts) {
	case 1:
		if hex, ok := strings.CutSuffix(name, ".json"); ok && isHex(hex, 64) {
			return kindConfigJSON, v1.Hash{Algorithm: "sha256", Hex: hex}
		}
		if hex, ok := strings.CutSuffix(name, ".tar"); ok && isHex(hex, 64) {
			return kindLegacyLayer, v1.Hash{}
		}
	case 2:
		if isHex(parts[0], 64) && parts[1] == "layer.tar" {
			return kindLegacyLayer, v1.Hash{}
		}
	case 3:
		if parts[0] != "blobs" {
			break
		}
		switch {
		case parts[1] == "sha256" && isHex(parts[2], 64), parts[1] == "sha512" && isHex(parts[2], 128):
			return kindBlob, v1.Hash{Algorithm: parts[1], Hex: parts[2]}
		}
	}
	return kindIgnore, v1.Hash{}
}

// isHex reports whether s is n lowercase hexadecimal digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// blobMemberName parses a reference to a member by path as manifest.json writes it
// ("blobs/sha256/<hex>", "<hex>.json", "<id>/layer.tar"), stripping "./" prefixes.
func blobMemberName(ref string) string {
	for strings.HasPrefix(ref, "./") {
		ref = ref[2:]
	}
	return ref
}

// linkTarget resolves the target of a link member inside the archive. Symlink targets are
// relative to the link's directory; hard link targets are relative to the archive root.
func linkTarget(name, linkname string, symlink bool) (string, bool) {
	if strings.HasPrefix(linkname, "/") {
		return "", false
	}
	var target string
	if symlink {
		target = path.Join(path.Dir(name), linkname)
	} else {
		target = path.Clean(blobMemberName(linkname))
	}
	if target == ".." || strings.HasPrefix(target, "../") || target == "." {
		return "", false
	}
	return target, true
}
