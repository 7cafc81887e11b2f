"""The fake as a module-level ASGI app for the benchmark's uvicorn (system clock, memory store), in a
process tuned as ``civitai-mock serve`` tunes its own (``tune_collector``)."""

from civitai_mock.mock_server.server.app import create_app
from civitai_mock.mock_server.server.serving import tune_collector

app = create_app(speed=1.0, balances={"blue": 10**12})
tune_collector()
