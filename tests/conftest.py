"""Shared test configuration."""

import torch

# Parity needs the same thread count on both sides; fix it for the whole run.
torch.set_num_threads(2)
