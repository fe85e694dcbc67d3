"""TFDS dataset builders of the project (custom builders live in this package so TFDS can register them)."""
