"""The generate-workload-cr step: workload descriptor + image -> OpenChoreo Workload CR (file and API)."""
