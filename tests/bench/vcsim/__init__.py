"""The vCenter simulator of the bench: a Go ``main`` around govmomi's simulator, and its builder."""
