"""Evaluation: tracking metrics, benchmark runs, reports and plots."""
