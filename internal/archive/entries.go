package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// annotationImageName is containerd's annotation for the full image name.
	annotationImageName = "io.containerd.image.name"
	// annotationRefName is the OCI annotation for the reference, often only a tag.
	annotationRefName = "org.opencontainers.image.ref.name"
)

// dockerItem is one element of the manifest.json of docker save.
type dockerItem struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// configRootFS is the part of an image config Read checks layers against.
type configRootFS struct {
	RootFS struct {
		Type    string    `json:"type"`
		DiffIDs []v1.Hash `json:"diff_ids"`
	} `json:"rootfs"`
}

// layerInfo is what Read learnt about a classic layer blob.
type layerInfo struct {
	mediaType types.MediaType
	diffID    v1.Hash
}

// entries turns the copied members into entries: index.json when there is one, otherwise
// manifest.json.
func (rd *reader) entries() ([]Entry, error) {
	if raw, ok := rd.meta[memberIndex]; ok {
		return rd.ociEntries(raw)
	}
	if raw, ok := rd.meta[memberManifest]; ok {
		items, err := parseDockerManifest(raw)
		if err != nil {
			return nil, err
		}
		entries := make([]Entry, 0, len(items))
		for i, it := range items {
			img, err := rd.dockerImage(i, it)
			if err != nil {
				return nil, err
			}
			entries = append(entries, Entry{Names: it.RepoTags, Image: img})
		}
		return entries, nil
	}
	for _, name := range slices.Sorted(maps.Keys(rd.ignored)) {
		dir, base, ok := strings.Cut(name, "/")
		if ok && (base == memberIndex || base == memberManifest) {
			return nil, formatf("the archive has no index.json or manifest.json at its top, but %s: "+
				"it looks like a tar of the directory %s/; make the archive from inside it (tar -C %s -cf FILE .)", name, dir, dir)
		}
	}
	return nil, formatf("the archive has neither index.json nor manifest.json")
}

func parseDockerManifest(raw []byte) ([]dockerItem, error) {
	var items []dockerItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, corruptf("manifest.json: does not parse: %w", err)
	}
	if len(items) == 0 {
		return nil, corruptf("manifest.json: lists no images")
	}
	return items, nil
}

// ociEntries reads the entries of index.json, taking names from manifest.json when index.json
// has none (Docker 25+ writes both).
func (rd *reader) ociEntries(raw []byte) ([]Entry, error) {
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, corruptf("index.json: does not parse: %w", err)
	}
	var items []dockerItem
	if mraw, ok := rd.meta[memberManifest]; ok {
		items, _ = parseDockerManifest(mraw) // only a source of names here: a bad one is ignored
	}
	var entries []Entry
	var skipped []string
	for i, desc := range idx.Manifests {
		where := fmt.Sprintf("index.json: manifests[%d]", i)
		if desc.Digest == (v1.Hash{}) {
			return nil, corruptf("%s has no digest", where)
		}
		mraw, err := rd.st.loadManifest(&desc, where)
		if err != nil {
			if _, ok := rd.st.has(desc.Digest); !ok {
				return nil, corruptf("%s: %s is missing from the archive", where, blobPath(desc.Digest))
			}
			return nil, err
		}
		e := Entry{RefName: desc.Annotations[annotationRefName]}
		if n := desc.Annotations[annotationImageName]; n != "" {
			e.Names = []string{n}
		}
		var configs []v1.Hash // configs of the images of the entry, to match manifest.json
		switch {
		case desc.MediaType.IsImage():
			img, err := newBlobImage(rd.st, desc, mraw, nil)
			if err != nil {
				return nil, err
			}
			cfg, err := img.ConfigName()
			if err != nil {
				return nil, err
			}
			configs = append(configs, cfg)
			if repl, err := rd.repairDocker25(img, cfg, items); err != nil {
				return nil, err
			} else if repl != nil {
				img = repl
			}
			e.Image = img
		case desc.MediaType.IsIndex():
			ix, err := newBlobIndex(rd.st, desc, mraw)
			if err != nil {
				return nil, err
			}
			if len(e.Names) == 0 && len(items) > 0 {
				configs = rd.indexConfigs(ix)
			}
			e.Index = ix
		default:
			mt := string(desc.MediaType)
			if mt == "" {
				mt = "a manifest of unknown media type"
			}
			skipped = append(skipped, mt)
			continue
		}
		if len(e.Names) == 0 {
			e.Names = namesFromDocker(items, configs, e.RefName)
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		if len(skipped) > 0 {
			return nil, corruptf("index.json: lists no image manifest or index (only %s)", strings.Join(skipped, ", "))
		}
		return nil, corruptf("index.json: lists no images")
	}
	return entries, nil
}

// indexConfigs returns the configs of the children of an index that are in the archive.
func (rd *reader) indexConfigs(ix *blobIndex) []v1.Hash {
	var configs []v1.Hash
	for _, d := range ix.manifest.Manifests {
		if _, ok := rd.st.has(d.Digest); !ok {
			continue
		}
		raw, err := rd.st.readAll(d.Digest, maxManifestSize)
		if err != nil {
			continue
		}
		if m, err := v1.ParseManifest(bytes.NewReader(raw)); err == nil {
			configs = append(configs, m.Config.Digest)
		}
	}
	return configs
}

// namesFromDocker returns the RepoTags of the manifest.json items whose config is one of
// configs. When refName is set, only the tags that end in it are kept if there are any.
func namesFromDocker(items []dockerItem, configs []v1.Hash, refName string) []string {
	var names []string
	for _, it := range items {
		h, ok := configOfItem(it)
		if !ok {
			continue
		}
		for _, c := range configs {
			if c == h {
				names = append(names, it.RepoTags...)
				break
			}
		}
	}
	if refName != "" {
		var tagged []string
		for _, n := range names {
			if strings.HasSuffix(n, ":"+refName) {
				tagged = append(tagged, n)
			}
		}
		if len(tagged) > 0 {
			return tagged
		}
	}
	return names
}

// configOfItem returns the digest a manifest.json config path carries.
func configOfItem(it dockerItem) (v1.Hash, bool) {
	kind, h := classify(blobMemberName(it.Config))
	return h, (kind == kindBlob || kind == kindConfigJSON)
}

// repairDocker25 works around Docker 25.0.0, whose index.json manifests listed only foreign
// layers: when an image config lists more diff_ids than its manifest has layers and
// manifest.json describes the same config completely, the image is read from manifest.json.
func (rd *reader) repairDocker25(img v1.Image, cfg v1.Hash, items []dockerItem) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil || !m.Config.MediaType.IsConfig() || len(items) == 0 {
		return nil, err
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	var rootfs configRootFS
	if json.Unmarshal(raw, &rootfs) != nil || len(rootfs.RootFS.DiffIDs) <= len(m.Layers) {
		return nil, nil
	}
	for i, it := range items {
		if h, ok := configOfItem(it); ok && h == cfg && len(it.Layers) == len(rootfs.RootFS.DiffIDs) {
			return rd.dockerImage(i, it)
		}
	}
	return nil, nil
}

// memberBlob finds a member manifest.json refers to.
func (rd *reader) memberBlob(ref, what string) (storedBlob, error) {
	name := blobMemberName(ref)
	if b, ok := rd.members[name]; ok {
		return b, nil
	}
	if why, ok := rd.unresolved[name]; ok {
		return storedBlob{}, corruptf("manifest.json: %s %q is %s", what, ref, why)
	}
	if rd.ignored[name] {
		return storedBlob{}, corruptf("manifest.json: %s %q is not a member berth reads (want blobs/sha256/<hex>, <hex>.json, <id>/layer.tar or <hex>.tar)", what, ref)
	}
	return storedBlob{}, corruptf("manifest.json: %s %q is missing from the archive", what, ref)
}

// dockerImage builds the image of a manifest.json item: it checks the layers against the
// diff_ids of the config and synthesises an OCI manifest that points at them as they are.
func (rd *reader) dockerImage(i int, it dockerItem) (v1.Image, error) {
	cfgBlob, err := rd.memberBlob(it.Config, "config")
	if err != nil {
		return nil, err
	}
	cfgRaw, err := rd.st.readAll(cfgBlob.digest, maxConfigSize)
	if err != nil {
		return nil, err
	}
	var rootfs configRootFS
	if err := json.Unmarshal(cfgRaw, &rootfs); err != nil {
		return nil, corruptf("manifest.json: config %q does not parse: %w", it.Config, err)
	}
	diffIDs := rootfs.RootFS.DiffIDs
	if len(diffIDs) != len(it.Layers) {
		return nil, corruptf("manifest.json: image %d lists %d layers but its config %q has %d diff_ids", i, len(it.Layers), it.Config, len(diffIDs))
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON, Size: cfgBlob.size, Digest: cfgBlob.digest},
		Layers:        make([]v1.Descriptor, 0, len(it.Layers)),
	}
	verified := map[v1.Hash]v1.Hash{}
	for j, ref := range it.Layers {
		b, err := rd.memberBlob(ref, "layer")
		if err != nil {
			return nil, err
		}
		info, err := rd.checkLayer(b, diffIDs[j], ref)
		if err != nil {
			return nil, err
		}
		verified[b.digest] = info.diffID
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: info.mediaType, Size: b.size, Digest: b.digest})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	h, err := rd.st.putBytes(raw)
	if err != nil {
		return nil, err
	}
	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(raw)), Digest: h}
	return newBlobImage(rd.st, desc, raw, verified)
}

// checkLayer checks a classic layer against its diff_id and tells whether it is gzipped.
func (rd *reader) checkLayer(b storedBlob, diffID v1.Hash, ref string) (layerInfo, error) {
	if info, ok := rd.diffIDs[b.digest]; ok {
		if info.diffID != diffID {
			return layerInfo{}, errDiffID(ref, diffID)
		}
		return info, nil
	}
	info := layerInfo{mediaType: types.OCIUncompressedLayer, diffID: diffID}
	if b.digest != diffID {
		f, err := rd.st.open(b.digest)
		if err != nil {
			return layerInfo{}, err
		}
		defer f.Close()
		br := bufio.NewReader(f)
		if magic, _ := br.Peek(2); !bytes.Equal(magic, []byte{0x1f, 0x8b}) {
			return layerInfo{}, errDiffID(ref, diffID)
		}
		zr, err := gzip.NewReader(br)
		if err != nil {
			return layerInfo{}, corruptf("manifest.json: layer %q: %w", ref, err)
		}
		got, _, err := v1.SHA256(zr)
		if err != nil {
			return layerInfo{}, corruptf("manifest.json: layer %q: the gzip stream is corrupt: %w", ref, err)
		}
		if got != diffID {
			return layerInfo{}, errDiffID(ref, diffID)
		}
		info.mediaType = types.OCILayer
	}
	rd.diffIDs[b.digest] = info
	return info, nil
}

func errDiffID(ref string, diffID v1.Hash) error {
	return corruptf("manifest.json: layer %q does not match diff_id %s of its config (archive is corrupt or truncated)", ref, diffID)
}
