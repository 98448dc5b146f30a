"""dispatch: hand coding tasks to background AI workers, one git worktree each."""

__version__ = "0.1.0"
