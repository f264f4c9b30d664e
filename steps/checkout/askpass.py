"""The GIT_ASKPASS helper now lives in steps/common/git_askpass.py (shared with gitops-publish)."""

from __future__ import annotations

from steps.common.git_askpass import CREDENTIALS_FILE_ENV, answer, main, origin_of

__all__ = ["CREDENTIALS_FILE_ENV", "answer", "main", "origin_of"]
