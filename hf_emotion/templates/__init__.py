"""Packaged copies of the model card templates (canonical files: ``model_cards/`` at the repository root)."""
