"""The pack itself: what `python -m hera_workflows render` writes into templates/.

- `step_templates/`: one module per step ClusterWorkflowTemplate (checkout, build, buildpacks, publish_image,
  generate_workload), each reading its option table from `steps/<step>/options.py`;
- `pipelines`: one pipeline per build type, and `default_pack` (the pack as shipped);
- `openchoreo`: the OpenChoreo ClusterWorkflows (v1.x) and Workflows (v0.17) that run the pipelines;
- `model`: the `Pack` an extension receives; `blocks`: the secure container and parameter helpers every step
  template is built from; `documents`: the rendered documents and their folders; `settings`: the pack's settings;
- `render`, `listing`: the `render` and `list` commands.

The public extension API is `hera_workflows.extension`.
"""
