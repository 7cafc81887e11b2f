"""The fake as a module-level ASGI app for the benchmark's uvicorn (system clock, memory store)."""

from civitai_mock.mock_server.server.app import create_app

app = create_app(speed=1.0, balances={"blue": 10**12})
