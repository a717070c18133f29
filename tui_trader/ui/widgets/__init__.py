"""The desk's panes, one per file; each reads the `View` it is given on the UI clock and nothing else."""
