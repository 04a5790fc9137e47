"""Readers of what Vela produces for Arm Ethos-U NPUs."""
