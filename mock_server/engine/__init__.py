"""The engine: plain Python, no HTTP. Store, lifecycle, accounts, outcomes, blobs, webhooks."""
