"""beam_prep: raw multi-turn conversations -> token-exact fine-tuning data for chat LLMs, on Beam."""

__version__ = "0.1.0"
