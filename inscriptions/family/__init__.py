"""Household management."""
