"""Fetching released weights from the Hugging Face Hub and installing them as models."""
