"""Attention, step by step: the shared package."""
