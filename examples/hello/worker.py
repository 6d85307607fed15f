"""The hello worker: serves `greet.hello`. Run from the repo root, no install needed:
keel serve --worker "python3 examples/hello/worker.py"   or   KEEL_SOCKET=./keel.sock python3 examples/hello/worker.py
"""
import os, sys  # noqa: E401 -- use the in-repo client without `pip install`
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python", "src"))

import keel  # noqa: E402

worker = keel.Worker("hello-worker")


@worker.activity(
    "greet.hello",
    input={"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    output={"type": "object", "properties": {"greeting": {"type": "string"}}, "required": ["greeting"]},
    description="Greets someone.",
)
async def hello(input):
    return {"greeting": f"Hello, {input['name']}"}


if __name__ == "__main__":
    worker.run_sync()
