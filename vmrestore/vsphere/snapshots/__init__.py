"""Snapshot monitor adapter: one PropertyCollector pass over every VM's snapshot tree and file layout,
the datastore browser for orphaned delta files, and snapshot removal.

Kept import-light on purpose: ``types`` has no pyVmomi import, so the UI and the app may name the
result types without pulling the adapter in. Import ``scan`` / ``ops`` explicitly.
"""
