#!/usr/bin/env python3
"""Write a local OCI image layout with tiny, distinct release images (no network needed).

Usage: gen_images.py LAYOUT_DIR TAG [TAG ...]

A tag is `<version>-<arch>` with arch one of x86_64, aarch64, s390x, ppc64le (one image
manifest) or `multi` (an OCI image index with an amd64 and an arm64 manifest). Each tag is
recorded in LAYOUT_DIR/index.json under the annotation `org.opencontainers.image.ref.name`,
so `skopeo copy oci:LAYOUT_DIR:<tag> ...` finds it. The output is deterministic: the same tag
always gives the same bytes, and every tag/platform gets its own config (hence digest).
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "s390x": "s390x", "ppc64le": "ppc64le"}
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class Layout:
    def __init__(self, root):
        self.root = root
        self.blobs = os.path.join(root, "blobs", "sha256")
        os.makedirs(self.blobs, exist_ok=True)
        with open(os.path.join(root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.refs = []

    def blob(self, data, media_type, **extra):
        digest = hashlib.sha256(data).hexdigest()
        path = os.path.join(self.blobs, digest)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
        desc = {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}
        desc.update(extra)
        return desc

    def write_index(self):
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.refs}
        tmp = os.path.join(self.root, "index.json.tmp")
        with open(tmp, "w") as f:
            json.dump(index, f, indent=2)
        os.replace(tmp, os.path.join(self.root, "index.json"))


def js(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def image(layout, version, go_arch):
    """One platform image: a one-file layer plus a config naming version and arch."""
    content = f"release {version} {go_arch}\n".encode()
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("release-info")
        info.size = len(content)
        info.mtime = 1577836800  # 2020-01-01
        info.mode = 0o644
        info.uname = info.gname = "root"
        tar.addfile(info, io.BytesIO(content))
    tar_bytes = tar_buf.getvalue()
    gz_buf = io.BytesIO()
    with gzip.GzipFile(fileobj=gz_buf, mode="wb", mtime=0) as gz:
        gz.write(tar_bytes)
    layer = layout.blob(gz_buf.getvalue(), OCI_LAYER)
    config = {
        "architecture": go_arch,
        "os": "linux",
        "created": "2020-01-01T00:00:00Z",
        "config": {
            "Labels": {
                "io.openshift.release": version,
                "io.openshift.release.arch": go_arch,
            }
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]},
    }
    config_desc = layout.blob(js(config), OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_desc,
        "layers": [layer],
    }
    return layout.blob(js(manifest), OCI_MANIFEST)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    layout = Layout(sys.argv[1])
    for tag in sys.argv[2:]:
        version, _, arch = tag.rpartition("-")
        if arch == "multi":
            platforms = []
            for go_arch in ("amd64", "arm64"):
                desc = image(layout, version, go_arch)
                desc["platform"] = {"architecture": go_arch, "os": "linux"}
                platforms.append(desc)
            index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": platforms}
            desc = layout.blob(js(index), OCI_INDEX)
        elif arch in GO_ARCH:
            desc = image(layout, version, GO_ARCH[arch])
        else:
            sys.exit(f"unknown arch in tag {tag!r}")
        desc["annotations"] = {"org.opencontainers.image.ref.name": tag}
        layout.refs.append(desc)
    layout.write_index()


if __name__ == "__main__":
    main()
