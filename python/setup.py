# SPDX-License-Identifier: MIT
"""setup.py — builds the extension shmbox._shmbox against an installed libshmbox.

The compiler and linker flags come from `pkg-config shmbox` (set PKG_CONFIG_PATH for a
libshmbox installed under another prefix, e.g. /usr/local/lib/pkgconfig), and so does the
version: configure wrote it into shmbox.pc. The library's directory is recorded as the
extension's run path, so a libshmbox outside the loader's default paths is found at import.
"""
import subprocess
import sys

from setuptools import Extension, setup


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "shmbox"], check=True, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit("shmbox: pkg-config is missing (Debian: apt-get install pkg-config)")
    except subprocess.CalledProcessError as e:
        sys.exit("shmbox: pkg-config does not know libshmbox (%s).\n"
                 "Install the library first (./configure && make && make install), and set\n"
                 "PKG_CONFIG_PATH=/usr/local/lib/pkgconfig if it went below /usr/local."
                 % e.stderr.strip())
    return out.stdout.split()


version = pkg_config("--modversion")[0]
cflags = pkg_config("--cflags")
libs = pkg_config("--libs")
libdirs = [f[2:] for f in libs if f.startswith("-L")]

setup(
    version=version,
    ext_modules=[
        Extension(
            "shmbox._shmbox",
            sources=["shmbox/_shmbox.c"],
            include_dirs=[f[2:] for f in cflags if f.startswith("-I")],
            extra_compile_args=["-std=gnu11"] + [f for f in cflags if not f.startswith("-I")],
            library_dirs=libdirs,
            libraries=[f[2:] for f in libs if f.startswith("-l")],
            runtime_library_dirs=libdirs,
            define_macros=[("SHMBOX_PY_VERSION", '"%s"' % version)],
        )
    ],
)
