"""Export formats people train on: ShareGPT and OpenAI-messages JSONL, Parquet, preference pairs, a dataset card."""
