"""Evaluation metrics (numpy only): pose accuracy and tracking quality."""
