"""One module per step ClusterWorkflowTemplate of the pack."""
