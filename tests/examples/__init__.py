"""README examples, one runnable file per example (named after the test it shows); test_readme_sync.py
checks that each README block appears in its file verbatim."""
