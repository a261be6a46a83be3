"""chatprep pipeline: raw conversations -> OpenAI chat fine-tuning files, with nothing lost."""

__version__ = "0.1.0"
