"""Step programs of the pack. Each runs in its own small container; none imports Hera or `hera_workflows`."""
