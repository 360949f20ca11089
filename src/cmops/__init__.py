"""cmops: GitOps for community management."""

__version__ = "0.1.0"
