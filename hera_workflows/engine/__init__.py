"""The local Argo engine: `python -m hera_workflows run` executes the pack's templates on the local Docker engine.

- `run`: the command; `load`: templates -> a checked plan; `workflow`: the steps/retry walk Argo's controller does;
- `podrun`: one container template as a Pod (Docker containers sharing a workspace); `pods`: the bridge to it;
- `expr`, `status`, `report`: Argo's expression subset, node ids/phases as Argo records them, the console report.
"""
