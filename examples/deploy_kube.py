"""Kubernetes manifests for a model, printed and ready for ``kubectl apply``.

    python examples/deploy_kube.py MODEL [DIR]

Writes the manifests into DIR (a new temporary directory if none is given)
and prints them; they hold the server's new API key, so they are readable
by their owner only. No container engine needs to run. For a cluster, MODEL
should be an ``oci://`` reference that the cluster can pull: a ``file://``
or Hugging Face model is mounted from this machine's disk (a warning says
so); see "Outgrowing one machine" in the README.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from ramalama_sdk import RamalamaModel

PORT = 8080


def main(model_name: str, directory: Path) -> None:
    model = RamalamaModel(model=model_name, port=PORT)
    files = model.generate("kube", directory)
    for path in files:
        print(f"# --- {path}")
        print(path.read_text())
    deployment = files[0].stem
    print(f"# kubectl apply -f {files[0]}")
    print(f"# kubectl expose deployment {deployment} --port {PORT}")
    # The server checks the key the manifest gives it (LLAMA_API_KEY in its env).
    print(f'# RamalamaModel.connect("http://{deployment}:{PORT}/v1", api_key=LLAMA_API_KEY)')


if __name__ == "__main__":
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp(prefix="kube-"))
    main(sys.argv[1], target)
