"""etconform: conformance and accuracy suite for ExecuTorch edge backends."""
