"""Generate the demo's Python gRPC code from ``protos/*.proto`` into ``traceway/demo/proto/``.

The code is generated when the project is built, not when it runs
(``grpc.protos_and_services``): grpcio-tools stays a build and development dependency,
and mypy checks the services against typed stubs, the messages' from protoc's own
``pyi`` generator and the services' from mypy-protobuf's ``mypy_grpc`` plugin when it is
installed. ``make`` runs ``python -m traceway.demo.codegen`` after installing, and
``setup.py``'s ``build_py`` runs ``generate()`` so that a wheel contains the code.

This module imports nothing from traceway, so a build can load it by its file path.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

__all__ = ["PACKAGE", "generate", "main"]

PACKAGE = "traceway/demo/proto"
PROTOS = ("user.proto", "auth.proto", "order.proto", "shipping.proto")

_SOURCE_ROOT = Path(__file__).resolve().parents[2]  # .../src
_REPOSITORY = _SOURCE_ROOT.parent


class CodegenError(RuntimeError):
    """protoc rejected a .proto file, or grpcio-tools is not installed."""


def generate(proto_dir: Path = _REPOSITORY / "protos", out_root: Path = _SOURCE_ROOT) -> list[Path]:
    """Compile the demo's protos into ``out_root/traceway/demo/proto``; return the files made."""
    try:
        from grpc_tools import protoc  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise CodegenError(
            "generating the demo's gRPC code needs grpcio-tools: pip install grpcio-tools"
        ) from exc
    # protoc's virtual path maps protos/ onto the package, so the generated modules import
    # one another as traceway.demo.proto.x_pb2 rather than as top-level x_pb2.
    arguments = [
        "protoc",
        f"--proto_path={PACKAGE}={proto_dir}",
        f"--proto_path={_well_known_protos(protoc)}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
    ]
    stub_plugin = _mypy_grpc_plugin()
    if stub_plugin is not None:
        arguments += [f"--plugin=protoc-gen-mypy_grpc={stub_plugin}", f"--mypy_grpc_out={out_root}"]
    arguments += [f"{PACKAGE}/{name}" for name in PROTOS]
    status = protoc.main(arguments)
    if status != 0:
        raise CodegenError(f"protoc failed (exit status {status}) on {proto_dir}")
    package = out_root / PACKAGE
    return sorted(path for path in package.iterdir() if "_pb2" in path.name)


def _well_known_protos(protoc: object) -> Path:
    """grpcio-tools' copy of google/protobuf/*.proto."""
    return Path(str(getattr(protoc, "__file__", ""))).parent / "_proto"


def _mypy_grpc_plugin() -> str | None:
    """mypy-protobuf's plugin: beside this interpreter (a venv's bin/), else on PATH;
    None when this interpreter can't import it (pip's isolated build of a venv that has
    the plugin script: the plugin would inherit the build's path and fail)."""
    if importlib.util.find_spec("mypy_protobuf") is None:
        return None
    beside = Path(sys.executable).parent / "protoc-gen-mypy_grpc"
    if beside.exists():
        return str(beside)
    return shutil.which("protoc-gen-mypy_grpc")


def main() -> int:
    """``python -m traceway.demo.codegen``: generate in the source tree."""
    try:
        made = generate()
    except CodegenError as exc:
        print(f"traceway.demo.codegen: {exc}", file=sys.stderr)
        return 1
    print(f"traceway.demo.codegen: {len(made)} files in {_SOURCE_ROOT / PACKAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
