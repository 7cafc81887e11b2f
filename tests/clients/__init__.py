"""The linter's corpus: correct clients in several styles (zero violations on every timeline) and buggy
clients with one known bug each (caught by the intended rule and no other). ``tests/test_corpus.py``
runs them; README "Testing your client" keeps the table."""
