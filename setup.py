"""Build hook: the demo's gRPC code is generated from protos/ (see traceway.demo.codegen)."""

import importlib.util
from pathlib import Path

from setuptools import setup
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


setup(cmdclass={"build_py": BuildPyWithProtos})
