// Package image knows what a Wasm container image is: its name, its platform, which of
// the three Wasm image layouts it uses, where its module is, and how its configuration
// combines with the flags of `berth run` into the process to start.
//
// It reads images through go-containerregistry's v1 interfaces and does no I/O of its
// own: the store, the archive reader and (later) the registry client hand it images.
//
// # Notes
//
//   - Three layouts are in use for Wasm images, and berth accepts all of them:
//     Docker-style (what `docker buildx --platform wasi/wasm` writes: a tar layer holding the
//     module and an Entrypoint naming it), the CNCF Wasm OCI artifact (config media type
//     application/vnd.wasm.config.v0+json, one application/wasm layer) and wasm-to-oci
//     (one application/vnd.wasm.content.layer.v1+wasm layer). Refusing any of them would
//     refuse images users already have in registries.
//   - Platforms: Docker writes os "wasi" (sometimes "wasip1") and architecture "wasm"
//     (sometimes "wasm32"). All four combinations are one platform to berth.
//   - Names are normalised the way Docker and containerd do ("hello" is
//     "docker.io/library/hello:latest"), so a store shared with those tools agrees on names.
package image
