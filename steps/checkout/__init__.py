"""The checkout-source step: shallow git clone by branch or commit, outputs git-revision and commit-sha."""
