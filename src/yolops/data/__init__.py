"""Readers and writers of dataset formats; see yolops.data.formats."""
