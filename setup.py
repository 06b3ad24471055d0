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


def _native(module: str) -> Extension:
    """The C module ``traceway.<module>``, built from ``src/traceway/<module path>.c``.

    Optional: without a C compiler the install still works, and traceway does in Python
    (more slowly) what the modules do: decode OTLP protobuf (receivers._otlp_native),
    split attribute entries, plan a batch's rows and split its events from their times
    (storage.duckdb._entries_native, _plan_native, _events_native); each header says
    why it is written by hand.
    """
    return Extension(
        f"traceway.{module}",
        sources=[f"src/traceway/{module.replace('.', '/')}.c"],
        include_dirs=["src/traceway"],  # _native_buf.h and _native_hash.h, shared
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


setup(
    cmdclass={"build_py": BuildPyWithProtos},
    ext_modules=[
        _native("receivers._otlp_native"),
        _native("storage.duckdb._entries_native"),
        _native("storage.duckdb._plan_native"),
        _native("storage.duckdb._events_native"),
    ],
)
