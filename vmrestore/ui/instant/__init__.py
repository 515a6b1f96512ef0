"""Instant VM recovery in the GUI: the start wizard and the instant VMs' section of the Mounted page."""
