"""Snapshot monitor use cases: scan and classify, plan/pre-flight/run a cleanup, watch in the background.

``types`` and ``classify`` are pure (no pyVmomi), for the UI to import; ``scan``, ``cleanup`` and
``watch`` talk to vCenter through the adapter.
"""
