"""A notebook cell that serves a model is run again and again.

Each run makes a new object; IPython's Out[n] keeps the previous one, and
its server, alive. running() lists what this process serves, stop_all()
stops it.
"""

from __future__ import annotations

import asyncio

import ramalama_sdk
from conftest import server_processes
from ramalama_sdk import AsyncRamalamaModel, RamalamaModel


def test_running_and_stop_all(model_uri: str) -> None:
    assert ramalama_sdk.running() == []
    out = []  # what IPython's Out[n] would hold
    for _ in range(3):  # the cell, run three times
        model = RamalamaModel(model=model_uri, max_tokens=4)
        model.serve()
        out.append(model)
    amodel = AsyncRamalamaModel(model=model_uri, max_tokens=4)
    asyncio.run(amodel.serve())
    assert set(map(id, ramalama_sdk.running())) == {*map(id, out), id(amodel)}
    assert ramalama_sdk.stop_all() == 4
    assert ramalama_sdk.running() == []
    assert all(not m.is_running for m in [*out, amodel])
    assert server_processes() == []
    out[0].serve()  # a stopped model can serve again, and is listed again
    assert ramalama_sdk.running() == [out[0]]
    out[0].stop()
    assert ramalama_sdk.running() == []
