"""Guest images: a build root, a runtime root, our kernel modules, a bootable image.

Layers (each cached under its content hash, see :mod:`images.cache`)::

    buildroot  trixie + the generic 6.12 kernel, its headers, the gcc it was built
               with, libc headers (for the tools)
    rootfs     trixie runtime: python3, busybox, iproute2, kmod, ...; no compilers
    modules    the vnic/linux tree (vnic.ko, netmap/netmap.ko) compiled *inside* the
               build root in one kbuild pass (the kernel's own gcc)
    tools      vnic/tools (nmgen, nm_docapi, stackmap_server, rr_load) compiled in the
               build root, statically, against the netmap headers installed there as
               <net/netmap_user.h>
    image      vmlinuz + stage-0 initramfs + rootfs.ext4 (runtime root, the kernel
               modules we name, our modules, the tools, ringlab-init)

The image boots with ``snapshot=on``: every VM starts from the same clean disk.
"""

from __future__ import annotations

import fcntl
import gzip
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from images import debian
from images.cache import Layer, du, hash_files, hash_text
from images.namespace import remove_tree
from images.progress import ProvisionError, Steps

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
MODULE_SOURCES = PROJECT / "vnic" / "linux"
#: What kbuild reads: a change to any of these rebuilds the modules.
MODULE_SOURCE_SUFFIXES = {".c", ".h"}
MODULE_SOURCE_NAMES = {"Kbuild", "Makefile"}
#: The netmap ABI headers user programs include as <net/netmap.h>, <net/netmap_user.h>
#: (in the module tree, which builds against them too).
UAPI_HEADERS = Path("netmap/uapi/net")
#: Where the build root keeps them, as a netmap installation would.
UAPI_INSTALL = Path("usr/local/include/net")
#: The user-space tools (in the project): one C file each, built by the Makefile there.
TOOL_SOURCES = Path("vnic/tools")
TOOLS = ["nmgen", "nm_docapi", "stackmap_server", "rr_load", "udp_blast"]
#: The build root's compiler (gcc-14 has no plain "gcc" alias there).
TOOLS_CC = "gcc-14"

#: The guest kernel: Debian trixie's generic kernel, 6.12 series (the cloud
#: flavour has no 9p).  The mirror only keeps the current point release, so the
#: recipe names the series and the layer's manifest records the exact version.
KERNEL_SERIES = "6.12"
BUILDROOT_PACKAGES = [
    f"linux-image-amd64/{debian.SUITE}",
    f"linux-headers-amd64/{debian.SUITE}",
    "gcc-14",
    "libc6-dev",  # headers and libc.a for the user-space tools (nmgen), linked -static
    "make",
    "busybox-static",
]
RUNTIME_PACKAGES = [
    "python3",
    "busybox-static",
    "iproute2",
    "kmod",
    "procps",
    "ethtool",
    "iperf3",
    "iputils-ping",
    "util-linux",
]
#: Kernel modules of the distribution kernel the guest loads itself (stage-0
#: loads virtio_blk and ext4 before the root exists).
STAGE0_MODULES = ["virtio_blk", "ext4"]
#: igb, e1000e and virtio_net drive QEMU's own NICs, the anchors the vNIC is measured
#: against (lab.topology.ANCHOR_NICS); their dependencies come with them.
RUNTIME_MODULES = ["9pnet_virtio", "9p", "uio_pci_generic", "igb", "e1000e", "virtio_net"]
#: What we never need in a guest: removed from the runtime root before packing.
PRUNE = [
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "usr/share/common-licenses",
    "var/cache/apt",
    "var/lib/apt/lists",
    "var/log",
]
#: Fixed identity and timestamps make two builds of the same inputs bit-identical.
SOURCE_DATE_EPOCH = 1767225600  # 2026-01-01
EXT4_UUID = "6b7a1e0c-3f51-4c4e-9a57-72696e676c61"
EXT4_HASH_SEED = "0c2b8f3e-6a5d-4e7b-b1f0-72696e676c61"

BUILDROOT_RECIPE = hash_text("buildroot-v1", debian.SUITE, KERNEL_SERIES, *BUILDROOT_PACKAGES)
ROOTFS_RECIPE = hash_text("rootfs-v2", debian.SUITE, *RUNTIME_PACKAGES, *PRUNE)


@dataclass(frozen=True)
class GuestImage:
    """A bootable guest: what the launcher needs."""

    kernel: Path  # uncompressed vmlinux, booted through its PVH entry
    initrd: Path
    rootfs: Path
    kernel_version: str
    key: str


def buildroot_layer() -> Layer:
    return Layer("buildroot", BUILDROOT_RECIPE)


def rootfs_layer() -> Layer:
    return Layer("rootfs", ROOTFS_RECIPE)


def module_sources() -> list[Path]:
    """The whole vnic/linux tree kbuild reads (subdirectories such as netmap/ too)."""
    return sorted(
        p
        for p in MODULE_SOURCES.rglob("*")
        if p.is_file() and (p.suffix in MODULE_SOURCE_SUFFIXES or p.name in MODULE_SOURCE_NAMES)
    )


def modules_layer() -> Layer:
    return Layer(
        "modules", hash_text("modules-v2", BUILDROOT_RECIPE, hash_files(module_sources(), PROJECT))
    )


def tool_sources() -> list[Path]:
    """The tools' C files and Makefile, and the headers they are compiled against."""
    tools = [
        p for p in (PROJECT / TOOL_SOURCES).glob("*") if p.suffix == ".c" or p.name == "Makefile"
    ]
    return sorted([*tools, *(MODULE_SOURCES / UAPI_HEADERS).glob("*.h")])


def tools_layer() -> Layer:
    return Layer(
        "tools",
        hash_text(
            "tools-v1", BUILDROOT_RECIPE, TOOLS_CC, *TOOLS, hash_files(tool_sources(), PROJECT)
        ),
    )


def image_layer() -> Layer:
    inits = [HERE / "init" / "stage0", HERE / "init" / "ringlab-init"]
    return Layer(
        "image",
        hash_text(
            "image-v3",
            BUILDROOT_RECIPE,
            ROOTFS_RECIPE,
            modules_layer().key,
            tools_layer().key,
            hash_files(inits, HERE),
            *STAGE0_MODULES,
            *RUNTIME_MODULES,
            str(SOURCE_DATE_EPOCH),
            EXT4_UUID,
        ),
    )


def find() -> GuestImage | None:
    """The current image if it is built, without building anything."""
    layer = image_layer()
    if not layer.exists():
        return None
    facts = layer.manifest()
    return GuestImage(
        kernel=layer.path / "vmlinux",
        initrd=layer.path / "initrd.gz",
        rootfs=layer.path / "rootfs.ext4",
        kernel_version=str(facts["kernel_version"]),
        key=layer.key,
    )


def ensure(steps: Steps) -> GuestImage:
    """Build whatever layers are missing (cold: ~2 min; warm: nothing) and return the image."""
    if image := find():
        return image
    build = ensure_buildroot(steps)
    runtime = ensure_rootfs(steps)
    modules = ensure_modules(steps, build)
    tools = ensure_tools(steps, build)
    layer = image_layer()
    with steps.step("guest image (ext4 + stage-0 initramfs)"):
        out = layer.build_dir()
        try:
            facts = _pack_image(steps, build, runtime, modules, tools, out)
            layer.commit(out, facts)
        finally:
            remove_tree(out)
    _drop_older(["modules", "tools", "image"])
    image = find()
    assert image is not None
    return image


def _drop_older(kinds: list[str]) -> None:
    """Remove superseded module, tool and image layers (cheap to rebuild, big to keep)."""
    current = {
        "modules": modules_layer().key,
        "tools": tools_layer().key,
        "image": image_layer().key,
    }
    for kind in kinds:
        directory = image_layer().path.parent.parent / kind
        for old in directory.glob("*"):
            if old.is_dir() and not old.name.startswith(".") and old.name != current[kind]:
                remove_tree(old)


def ensure_buildroot(steps: Steps) -> Layer:
    layer = buildroot_layer()
    if layer.exists():
        return layer
    with steps.step(f"guest build root (Debian {debian.SUITE}, kernel {KERNEL_SERIES})"):
        out = layer.build_dir()
        try:
            debian.debootstrap(steps, out, include=[])
            steps.note("installing kernel, headers and gcc")
            debian.apt_install(steps, out, BUILDROOT_PACKAGES)
            version = kernel_version(out)
            if not version.startswith(KERNEL_SERIES + "."):
                raise ProvisionError(f"expected a {KERNEL_SERIES} kernel, got {version}")
            manifest = debian.package_manifest(steps, out)
            (out / "ringlab-packages.txt").write_text(manifest)
            layer.commit(out, {"kernel_version": version, "packages": "ringlab-packages.txt"})
        finally:
            remove_tree(out)
    return layer


def ensure_rootfs(steps: Steps) -> Layer:
    layer = rootfs_layer()
    if layer.exists():
        return layer
    with steps.step(f"guest runtime root (Debian {debian.SUITE}, no compilers)"):
        out = layer.build_dir()
        try:
            debian.debootstrap(steps, out, include=[])
            steps.note("installing runtime packages")
            debian.apt_install(steps, out, RUNTIME_PACKAGES)
            manifest = debian.package_manifest(steps, out)
            for path in PRUNE:
                remove_tree(out / path)
            # debootstrap made device nodes; the guest mounts devtmpfs instead.
            # (Never copy a root with a Python copier: it would *read* dev/zero.)
            shutil.rmtree(out / "dev")
            (out / "dev").mkdir()
            (out / "etc/resolv.conf").unlink(missing_ok=True)
            layer.commit(
                out,
                {"packages": "ringlab-packages.txt", "python3": _grep_version(manifest, "python3")},
            )
            # The manifest lives beside the root, not in it (the guest need not see it).
            (layer.path / "ringlab-packages.txt").write_text(manifest)
        finally:
            remove_tree(out)
    return layer


def ensure_modules(steps: Steps, build: Layer) -> Layer:
    """Compile vnic/linux inside the build root, with the kernel's own gcc and headers."""
    layer = modules_layer()
    if layer.exists():
        return layer
    sources = module_sources()
    with steps.step(f"guest kernel modules ({len(sources)} source files)"):
        out = layer.build_dir()
        workdir = build.path / "tmp" / f"ringlab-modules-{layer.key}-{os.getpid()}"
        try:
            built: list[str] = []
            if any(p.suffix == ".c" for p in sources):
                # Only the sources: objects a developer built in place must not leak in.
                for source in sources:
                    target = workdir / source.relative_to(MODULE_SOURCES)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, target)
                version = kernel_version(build.path)
                inside = "/" + str(workdir.relative_to(build.path))
                debian.in_root(
                    steps, build.path, f"make -C /lib/modules/{version}/build M={inside} modules"
                )
                # Every module of the tree (netmap/netmap.ko too), flat: they all go to extra/.
                for ko in sorted(workdir.rglob("*.ko")):
                    if (out / ko.name).exists():
                        raise ProvisionError(f"two kernel modules named {ko.name} in vnic/linux")
                    shutil.copy2(ko, out / ko.name)
                    built.append(ko.name)
            layer.commit(
                out,
                {
                    "modules": built,
                    "sources": [str(p.relative_to(MODULE_SOURCES)) for p in sources],
                },
            )
        finally:
            remove_tree(workdir)
            remove_tree(out)
    return layer


def ensure_tools(steps: Steps, build: Layer) -> Layer:
    """Compile vnic/tools inside the build root, statically, against the installed headers.

    The runtime root has no compiler and no libc headers, hence ``-static``: the binaries
    need nothing from it.
    """
    layer = tools_layer()
    if layer.exists():
        return layer
    with steps.step(f"guest tools ({', '.join(TOOLS)}; {TOOLS_CC} -static)"):
        out = layer.build_dir()
        workdir = build.path / "tmp" / f"ringlab-tools-{layer.key}-{os.getpid()}"
        try:
            shutil.copytree(
                PROJECT / TOOL_SOURCES, workdir, ignore=shutil.ignore_patterns(*TOOLS, "*.o")
            )
            inside = "/" + str(workdir.relative_to(build.path))
            with uapi_headers_installed(build.path):
                debian.in_root(
                    steps,
                    build.path,
                    f"make -C {inside} CC={TOOLS_CC} NETMAP_INCLUDE=/{UAPI_INSTALL.parent} "
                    + " ".join(TOOLS),
                )
            (out / "bin").mkdir()
            for tool in TOOLS:
                shutil.copy2(workdir / tool, out / "bin" / tool)
            layer.commit(
                out,
                {
                    "tools": TOOLS,
                    "compiler": debian.package_version(steps, build.path, TOOLS_CC),
                    "sources": [str(p.relative_to(PROJECT)) for p in tool_sources()],
                },
            )
        finally:
            remove_tree(workdir)
            remove_tree(out)
    return layer


@contextmanager
def uapi_headers_installed(root: Path) -> Iterator[None]:
    """Put this tree's netmap headers in ``root``'s /usr/local/include/net for a build.

    They are copied for every build, not baked into the build root layer: the headers
    change with the project, the build root does not.  The build root is shared by
    everyone using the cache, so a lock keeps another build from swapping the headers
    while this one compiles.
    """
    (root / "tmp").mkdir(exist_ok=True)
    with open(root / "tmp" / "ringlab-uapi.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        target = root / UAPI_INSTALL
        target.mkdir(parents=True, exist_ok=True)
        for old in target.glob("netmap*.h"):
            old.unlink()
        for header in sorted((MODULE_SOURCES / UAPI_HEADERS).glob("*.h")):
            shutil.copy2(header, target / header.name)
        yield


#: zstd's frame magic; Debian compresses its kernels with zstd.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: What the kernel appends to a signed module (see scripts/sign-file.c).
SIGNATURE_MAGIC = b"~Module signature appended~\n"


def uncompressed_kernel(bzimage: bytes) -> bytes:
    """The ELF vmlinux inside a zstd bzImage.

    QEMU boots an ELF kernel through its PVH entry point directly, skipping the
    decompressor and the real-mode set-up: under TCG that saves ~0.8 s per boot.
    """
    offset = bzimage.find(ZSTD_MAGIC)
    if offset < 0:
        raise ProvisionError("the kernel image is not zstd-compressed; cannot extract vmlinux")
    # zstd complains about the bzImage's bytes after the frame, but the frame is complete.
    proc = subprocess.run(["zstd", "-dc"], input=bzimage[offset:], capture_output=True)
    if not proc.stdout.startswith(b"\x7fELF"):
        raise ProvisionError(f"could not extract vmlinux: {proc.stderr.decode()[:200]}")
    return proc.stdout


def strip_signature(module: bytes) -> bytes:
    """A module without its appended signature.

    The guest kernel does not enforce signatures, and checking one costs ~20 ms
    per module under TCG; our own modules are unsigned anyway.
    """
    if not module.endswith(SIGNATURE_MAGIC):
        return module
    # struct module_signature (12 bytes) ends with the big-endian signature length.
    end = len(module) - len(SIGNATURE_MAGIC)
    signature_length = int.from_bytes(module[end - 4 : end], "big")
    return module[: end - 12 - signature_length]


def kernel_version(root: Path) -> str:
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if len(kernels) != 1:
        raise ProvisionError(f"expected one kernel in {root}/boot, found {kernels}")
    return kernels[0].name.removeprefix("vmlinuz-")


def _grep_version(manifest: str, package: str) -> str:
    match = re.search(rf"^{re.escape(package)} (\S+)$", manifest, re.MULTILINE)
    return match.group(1) if match else "?"


def _module_closure(steps: Steps, build: Path, version: str, names: list[str]) -> list[Path]:
    """The .ko.xz files (relative to the root) to load ``names``, dependencies first."""
    ordered: list[Path] = []
    for name in names:
        text = debian.in_root(steps, build, f"modprobe -S {version} --show-depends {name}")
        for line in text.splitlines():
            if line.startswith("insmod "):
                path = Path(line.split()[1])
                if path not in ordered:
                    ordered.append(path)
    return ordered


def _install_modules(build: Path, modules: list[Path], target: Path, version: str) -> list[str]:
    """Copy modules decompressed (faster to load) to ``target/lib/modules/VER/...``."""
    installed = []
    base = Path("/lib/modules") / version
    for module in modules:
        relative = module.relative_to(base)
        dest = (target / base.relative_to("/") / relative).with_suffix("")  # drop .xz
        dest.parent.mkdir(parents=True, exist_ok=True)
        data = subprocess.run(
            ["xz", "-dc", str(build / module.relative_to("/"))], capture_output=True, check=True
        ).stdout
        dest.write_bytes(strip_signature(data))
        installed.append(str(relative.with_suffix("")))
    return installed


def _pack_image(
    steps: Steps, build: Layer, runtime: Layer, modules: Layer, tools: Layer, out: Path
) -> dict[str, object]:
    version = kernel_version(build.path)
    bzimage = (build.path / "boot" / f"vmlinuz-{version}").read_bytes()
    (out / "vmlinux").write_bytes(uncompressed_kernel(bzimage))

    steps.note("stage-0 initramfs")
    stage0_modules = _module_closure(steps, build.path, version, STAGE0_MODULES)
    _build_stage0(build.path, stage0_modules, version, out / "initrd.gz")

    steps.note("runtime root with modules")
    tree = out / "root"
    debian.as_root(steps, ["cp", "-a", str(runtime.path), str(tree)])  # owners, special files
    (tree / "layer.json").unlink()
    (tree / "ringlab-packages.txt").unlink(missing_ok=True)
    closure = _module_closure(steps, build.path, version, STAGE0_MODULES + RUNTIME_MODULES)
    _install_modules(build.path, closure, tree, version)
    extra = tree / "lib/modules" / version / "extra"
    extra.mkdir(parents=True, exist_ok=True)
    ours = sorted(modules.path.glob("*.ko"))
    for ko in ours:
        shutil.copy2(ko, extra / ko.name)
    for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        source = build.path / "lib/modules" / version / name
        if source.exists():
            shutil.copy2(source, tree / "lib/modules" / version / name)
    debian.in_root(steps, tree, f"depmod {version}")  # the guest's own depmod
    depends = _extra_depends(tree / "lib/modules" / version / "modules.dep")
    bin_dir = tree / "usr/local/bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in sorted((tools.path / "bin").iterdir()):
        shutil.copy2(tool, bin_dir / tool.name)
        (bin_dir / tool.name).chmod(0o755)
    init = tree / "sbin/ringlab-init"
    shutil.copy2(HERE / "init" / "ringlab-init", init)
    init.chmod(0o755)
    (tree / "etc/hostname").write_text("guest\n")

    steps.note("packing ext4")
    size_mb = du(tree) // (1 << 20) * 5 // 4 + 128  # room for what guests write
    debian.as_root(
        steps,
        [
            "mke2fs", "-q", "-t", "ext4", "-d", str(tree), "-L", "ringlab",
            "-U", EXT4_UUID, "-E", f"hash_seed={EXT4_HASH_SEED},root_owner=0:0",
            "-F", str(out / "rootfs.ext4"), f"{size_mb}M",
        ],
        SOURCE_DATE_EPOCH=str(SOURCE_DATE_EPOCH),
    )  # fmt: skip
    remove_tree(tree)
    return {
        "kernel_version": version,
        "modules": [ko.name for ko in ours],
        "module_depends": depends,
        "tools": sorted(p.name for p in (tools.path / "bin").iterdir()),
        "buildroot": build.key,
        "rootfs": runtime.key,
        "modules_layer": modules.key,
        "tools_layer": tools.key,
        "rootfs_mb": size_mb,
    }


def _extra_depends(modules_dep: Path) -> dict[str, list[str]]:
    """What each of our modules (extra/) needs loaded first, as depmod found it.

    ``modprobe vnic`` loads netmap first only if depmod saw vnic.ko use netmap.ko's
    symbols; the image manifest records it so that is easy to check.
    """
    depends: dict[str, list[str]] = {}
    for line in modules_dep.read_text().splitlines():
        module, _, needs = line.partition(":")
        if module.startswith("extra/"):
            depends[Path(module).stem] = [Path(n).name.split(".")[0] for n in needs.split()]
    return depends


def _build_stage0(build: Path, modules: list[Path], version: str, target: Path) -> None:
    """A gzip'd newc cpio: busybox, the stage-0 modules, and ``/init``; reproducible."""
    tree = target.with_name("stage0")
    (tree / "bin").mkdir(parents=True)
    shutil.copy2(build / "bin/busybox", tree / "bin/busybox")
    shutil.copy2(HERE / "init" / "stage0", tree / "init")
    (tree / "init").chmod(0o755)
    installed = _install_modules(build, modules, tree, version)
    (tree / "lib/modules/order").write_text("".join(f"{version}/{m}\n" for m in installed))
    files = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
    for path in [tree, *tree.rglob("*")]:
        os.utime(path, (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH), follow_symlinks=False)
    cpio = subprocess.run(
        ["cpio", "--quiet", "-o", "-H", "newc", "--reproducible", "-R", "0:0"],
        input=("\n".join(files) + "\n").encode(),
        capture_output=True,
        cwd=tree,
        check=True,
    )
    with (
        open(target, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz,
    ):
        gz.write(cpio.stdout)
    shutil.rmtree(tree)
