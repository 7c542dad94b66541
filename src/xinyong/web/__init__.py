"""HTTP plumbing shared by every feature's router."""
