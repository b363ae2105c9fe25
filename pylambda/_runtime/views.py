"""An environment's view of the filesystem, mounted by its sandbox's init (child side; see ``sandbox``).

Inside the environment's new mount namespace: the Invoker's directory is
hidden, ``/tmp`` is the environment's own (a tmpfs the zygote holds on a
directory of the Invoker, or one of this mount namespace's own), and what
the runtime still needs under a covered path is bind-mounted back at its
own path; the code root read-only.  A SnapStart environment restored from a
template starts with a copy of the template's ``/tmp``.

Only the standard library: this runs in the zygote's children.
"""

from __future__ import annotations

import os

__all__ = ["mount_views", "under"]

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC = 32, 4096, 16384


def under(path: str, roots: list[str]) -> bool:
    """Whether ``path`` lies below one of ``roots``."""
    return any(path.startswith(root.rstrip("/") + "/") for root in roots)


def mount_views(lib, conf: dict) -> None:
    """Hide the Invoker's directory, mount the private /tmp, and show again what the environment needs.

    ``conf["views"]`` lists ``[path, read_only]``: the code root (read-only)
    and the directories the runtime must still see where they are (the
    working directory of a callable handler, ``sys.path`` entries, the
    coverage data directory) when they lie under ``/tmp`` or a hidden
    directory.  Each is bind-mounted back, at its own path, from a
    descriptor opened before the covering mount.
    """
    tmp = conf.get("tmp")
    fresh = conf.get("fresh_tmp", False)  # a tmpfs of this mount namespace's own (SnapStart: see fork_restored)
    restored = conf.get("restored", False)
    covered = (["/tmp"] if tmp or fresh else []) + [h for h in conf.get("hide", ()) if not under(h, ["/tmp"])]
    views = []
    for path, ro in sorted(conf.get("views", ()), key=lambda v: len(v[0])):
        if path in covered:
            continue
        try:
            views.append((path, ro, os.open(path, os.O_PATH | os.O_DIRECTORY)))
        except OSError:
            continue  # gone: whoever needs it says so (chdir, import)
    tmp_fd = os.open(tmp, os.O_PATH | os.O_DIRECTORY) if tmp else -1
    snapshot_tmp = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY) if restored else -1
    hidden = covered[1:] if tmp or fresh else covered
    flags = _MS_NOSUID | _MS_NODEV
    for path in hidden:
        lib.mount("tmpfs", path, "tmpfs", flags, "size=16k,mode=755")
    if tmp_fd >= 0:
        lib.mount(f"/proc/self/fd/{tmp_fd}", "/tmp", None, _MS_BIND)
        os.close(tmp_fd)
    elif fresh:
        lib.mount("tmpfs", "/tmp", "tmpfs", flags, f"size={int(conf['tmp_mb'])}m,mode=1777")
    if snapshot_tmp >= 0:
        try:
            _copy_tree(snapshot_tmp, "/tmp")  # Lambda's snapshot holds the disk: what the init wrote there
        finally:
            os.close(snapshot_tmp)
    # Restored: the views come from the template's mount namespace, where
    # they are locked together with what is mounted below them.
    bind = _MS_BIND | (_MS_REC if restored else 0)
    shown: list[tuple[str, bool]] = []
    for path, ro, fd in views:
        inside = [v for v in shown if path == v[0] or path.startswith(v[0].rstrip("/") + "/")]
        if inside and inside[-1][1] == ro:
            pass  # visible, as it should be, through an enclosing view
        elif under(path, covered) or ro:
            if not os.path.isdir(path):
                os.makedirs(path)  # a mount point in the private /tmp (or the hiding tmpfs)
            lib.mount(f"/proc/self/fd/{fd}", path, None, bind)
            if ro:
                lib.mount(None, path, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | flags)
            shown.append((path, ro))
        os.close(fd)
    for path in hidden:
        lib.mount(None, path, None, _MS_REMOUNT | _MS_RDONLY | flags)


def _copy_tree(src: int, dst: str) -> None:
    """Copy the directory open as ``src`` into ``dst``: files, directories, symlinks, not other mounts.

    Mount points below ``src`` (the template's views) are skipped: they are
    mounted again.
    """
    import stat

    dev = os.fstat(src).st_dev
    for entry in os.scandir(src):
        info = entry.stat(follow_symlinks=False)
        target = os.path.join(dst, entry.name)
        if stat.S_ISLNK(info.st_mode):
            os.symlink(os.readlink(entry.name, dir_fd=src), target)
            continue
        if info.st_dev != dev:
            continue
        if stat.S_ISDIR(info.st_mode):
            os.mkdir(target)
            sub = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=src)
            try:
                _copy_tree(sub, target)
            finally:
                os.close(sub)
        elif stat.S_ISREG(info.st_mode):
            r = os.open(entry.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=src)
            try:
                w = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                try:
                    while chunk := os.read(r, 1 << 20):
                        view = memoryview(chunk)
                        while view:
                            view = view[os.write(w, view) :]
                finally:
                    os.close(w)
            finally:
                os.close(r)
        else:
            continue  # fifos, sockets, devices: not files a snapshot restores
        os.chmod(target, stat.S_IMODE(info.st_mode))
