"""The SAM 2 network, one component per module."""
