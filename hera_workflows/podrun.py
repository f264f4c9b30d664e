"""Run one Argo container template as a Docker container, the way an Argo Pod would run it.

INTERFACE (agreed between the step-container tests and the local runner; implementation pending):

    run_pod(template, variables, mounts, *, name, client=None, on_log=None) -> PodResult

- `template`: one Argo template dict exactly as rendered in templates/ (a `container` template, with its
  `inputs`, `outputs`, `volumes`, `initContainers`, `securityContext`, `podSpecPatch`, ...).
- `variables`: values for `{{...}}` substitution, keyed without braces, e.g. {"inputs.parameters.image": "x",
  "workflow.parameters.git-repo": "y", "workflow.name": "z"}. Input defaults from the template are applied
  first; an unresolved `{{...}}` raises UnsupportedTemplate naming the field.
- `mounts`: host directories behind volumes: `workspace` (the PVC named by contract.WORKSPACE_VOLUME) and
  `secrets` {secret name -> host dir whose files are the secret's keys}; emptyDirs become fresh temp dirs.
- Containers run with network_mode="host" (127.0.0.1 only), `--pull never`, the template's command/args/env,
  user/group, capabilities, readOnlyRootFilesystem, seccomp mapped to Docker options.
- Output parameters are read from `valueFrom.path` after the main container exits (one trailing newline
  trimmed, `default` used when the file is missing).
"""
