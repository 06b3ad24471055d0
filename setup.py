"""Build hooks: the demo's gRPC code is generated from protos/ (see traceway.demo.codegen),
and the native OTLP decoder is compiled."""

import importlib.util
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

_CODEGEN = Path(__file__).parent / "src" / "traceway" / "demo" / "codegen.py"


class BuildPyWithProtos(build_py):
    """build_py that first compiles protos/*.proto into traceway/demo/proto/."""

    def run(self) -> None:
        spec = importlib.util.spec_from_file_location("traceway_demo_codegen", _CODEGEN)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot load {_CODEGEN}")
        codegen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(codegen)
        codegen.generate()
        super().run()


# The native OTLP decoder (see its header). Optional: without a C compiler the
# install still works and traceway decodes OTLP in Python, more slowly.
_NATIVE_DECODER = Extension(
    "traceway.receivers._otlp_native",
    sources=["src/traceway/receivers/_otlp_native.c"],
    include_dirs=["src/traceway"],  # _native_buf.h and _native_hash.h, shared by the C modules
    depends=["src/traceway/_native_buf.h", "src/traceway/_native_hash.h"],
    extra_compile_args=[
        "-O2",
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Werror=implicit-function-declaration",
    ],
    optional=True,
)
_NATIVE_ENTRIES = Extension(
    "traceway.storage.duckdb._entries_native",
    sources=["src/traceway/storage/duckdb/_entries_native.c"],
    include_dirs=_NATIVE_DECODER.include_dirs,
    depends=_NATIVE_DECODER.depends,
    extra_compile_args=_NATIVE_DECODER.extra_compile_args,
    optional=True,
)

_NATIVE_PLAN = Extension(
    "traceway.storage.duckdb._plan_native",
    sources=["src/traceway/storage/duckdb/_plan_native.c"],
    include_dirs=_NATIVE_DECODER.include_dirs,
    depends=_NATIVE_DECODER.depends,
    extra_compile_args=_NATIVE_DECODER.extra_compile_args,
    optional=True,
)

setup(
    cmdclass={"build_py": BuildPyWithProtos},
    ext_modules=[_NATIVE_DECODER, _NATIVE_ENTRIES, _NATIVE_PLAN],
)
