"""The served fake with its submit and view cut down to their floor (``floor.py``), tuned as ``serve`` tunes
its process, for the benchmark's uvicorn: everything around them (middleware, request log, hot path) is real."""

from bench.floor import Floor
from civitai_mock.mock_server.server.app import create_app
from civitai_mock.mock_server.server.serving import tune_collector

app = create_app(speed=1.0, balances={"blue": 10**12})
Floor(app.state.fake.engine).install()
tune_collector()
