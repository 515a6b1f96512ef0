"""vcsim fixtures (written by the vSphere bench)."""
