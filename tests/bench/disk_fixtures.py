"""Disk image fixtures (written by the disk bench)."""
