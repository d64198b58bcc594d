"""Model, feature-extraction and processing code that travels to the Hub with saved models."""
