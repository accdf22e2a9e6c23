"""Keras training of the emotion and gender classifiers."""
