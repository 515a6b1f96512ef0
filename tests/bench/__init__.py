"""The test bench: a real vSphere API server (govmomi's simulator) and real disk images."""
