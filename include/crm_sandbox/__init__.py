"""A local, stateful HubSpot- and Salesforce-compatible API server for demos and tests.

Handoff itself never imports this package: it talks to the sandbox over HTTPS through the
official client libraries, exactly as it would talk to the real CRMs.
"""
