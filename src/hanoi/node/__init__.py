"""The node's platform: its runtime, setup, members, peers, tokens, policy, ledger, outbox, inbox
and the manifest type through which the three wings (requests, signals, media) plug in."""
